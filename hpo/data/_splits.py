"""Reproducible train/validation/test splits, the same for every kind of data."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import datasets


T = TypeVar("T")


@dataclass(frozen=True)
class SplitSection:
    """What every ``data`` section says about where the data is and how it is split;
    :class:`~hpo.data.TextData` and :class:`~hpo.data.ImageData` add their columns."""

    source: str = ""
    label_column: str = "label"
    train_size: int | None = None
    validation_size: int | float = 0.15
    test_size: int | float = 0.15
    seed: int = 0
    #: ``hpo finalize``: the selection split's size (a count or a fraction of the
    #: training data), or a file/folder of the same kind as ``source`` (``selection_source``).
    selection_size: int | float | None = None
    selection_source: str | None = None
    #: ``hpo train --full-data``: train on train + validation.
    full_data: bool = False

    @classmethod
    def from_section(cls: type[T], section: dict[str, Any]) -> T:
        return parse_section(cls, section)


def parse_section(cls: type[T], section: dict[str, Any]) -> T:
    """A data dataclass from a space's ``data`` section; unknown keys are refused.

    Raises:
        ValueError: names the unknown keys and lists the known ones.
    """
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"data: unknown key(s) {unknown}; known: {sorted(known)}")
    return cls(**section)


def standard_columns(ds: datasets.Dataset, source: str, columns: dict[str, str]
                     ) -> datasets.Dataset:
    """``ds`` with only the given columns, renamed (``{"review": "text", "stars": "label"}``)
    and ``label`` class-encoded.

    Raises:
        ValueError: a column is missing; names the source and the columns it has.
    """
    import datasets

    for col in columns:
        if col not in ds.column_names:
            raise ValueError(f"data: column {col!r} not found in {source!r}; "
                             f"columns are {ds.column_names}")
    ds = ds.rename_columns({old: new for old, new in columns.items() if old != new})
    ds = ds.select_columns(list(columns.values()))
    if not isinstance(ds.features["label"], datasets.ClassLabel):
        ds = ds.class_encode_column("label")
    return ds


def _count(size: int | float, total: int) -> int:
    """Examples meant by a size: a count, or a fraction of ``total``."""
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0:
        raise ValueError(f"data.selection_size: must be a count or a fraction in (0, 1), "
                         f"got {size!r}")
    if isinstance(size, float) and size < 1:
        return max(2, round(size * total))
    return int(size)


def _cut(ds: datasets.Dataset, size: int | float, seed: int) -> tuple[Any, Any]:
    parts = ds.train_test_split(test_size=size, seed=seed, stratify_by_column="label")
    return parts["train"], parts["test"]


S = TypeVar("S", bound=SplitSection)


def section_splits(cfg: S, load_source: Callable[[S], dict[str, datasets.Dataset]],
                   normalise: Callable[[datasets.Dataset, S], datasets.Dataset]
                   ) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    """:func:`make_splits` of what ``cfg`` names: its source's splits through
    ``normalise``, and the selection split read from ``selection_source`` (its first
    split) when the section gives one."""
    splits = {name: normalise(ds, cfg) for name, ds in load_source(cfg).items()}
    selection = None
    if cfg.selection_source is not None:
        given = load_source(dataclasses.replace(cfg, source=cfg.selection_source))
        selection = normalise(given[next(iter(given))], cfg)
    return make_splits(splits, source=cfg.source, seed=cfg.seed, train_size=cfg.train_size,
                       validation_size=cfg.validation_size, test_size=cfg.test_size,
                       selection_size=cfg.selection_size, selection=selection,
                       full_data=cfg.full_data)


def make_splits(
    splits: dict[str, datasets.Dataset],
    *,
    source: str,
    seed: int,
    train_size: int | None,
    validation_size: int | float,
    test_size: int | float,
    selection_size: int | float | None = None,
    selection: datasets.Dataset | None = None,
    full_data: bool = False,
) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    """Cut the missing test and validation splits from ``train`` and subsample it.

    Cuts are stratified by ``label`` and seeded (test with ``seed``, validation
    with ``seed + 1``, the training subset with ``seed + 2``, the selection split
    with ``seed + 3``), so one data section always gives the same splits.

    A *selection split* (``selection_size``, or a given ``selection`` data set) is
    what ``hpo finalize`` scores finalists on: the search never ranked on it. It is
    cut after the test, validation and training splits, so those stay exactly the
    search's: from the training pool that ``train_size`` left unused when enough is
    left, otherwise from the training split itself (which then shrinks; ``made``
    says which). ``full_data`` trains on train + validation (``hpo train
    --full-data``); the test split is never touched by either.

    Returns:
        The splits (``train``, ``validation``, ``test``, and ``selection`` when asked
        for) and their identity (source, seed, which splits were made, sizes, label
        names, fingerprints), stored with the study.

    Raises:
        ValueError: there is no ``train`` split.
    """
    import datasets

    train = splits.get("train")
    if train is None:
        raise ValueError(f"data: {source!r} has no 'train' split; it has {sorted(splits)}")
    made = []
    test = splits.get("test")
    if test is None:
        train, test = _cut(train, test_size, seed)
        made.append("test")
    validation = splits.get("validation") or splits.get("valid") or splits.get("dev")
    if validation is None:
        train, validation = _cut(train, validation_size, seed + 1)
        made.append("validation")
    unused = None
    if train_size is not None and train_size < len(train):
        parts = train.train_test_split(train_size=train_size, seed=seed + 2,
                                       stratify_by_column="label")
        train, unused = parts["train"], parts["test"]
        made.append("train subset")
    out = datasets.DatasetDict({"train": train, "validation": validation, "test": test})
    if selection is None and selection_size is not None:
        want = _count(selection_size, len(train) + (0 if unused is None else len(unused)))
        if unused is not None and len(unused) >= max(want, 2):
            selection = unused if len(unused) == want else _cut(unused, want, seed + 3)[1]
            made.append("selection from the unused training pool")
        else:
            if want >= len(train):
                raise ValueError(f"data.selection_size: {selection_size!r} leaves no "
                                 f"training data (the training split has {len(train)})")
            out["train"], selection = _cut(train, want, seed + 3)
            made.append("selection from the training split")
    elif selection is not None:
        made.append("selection given")
    if selection is not None:
        out["selection"] = selection
    if full_data:
        out["train"] = datasets.concatenate_datasets([out["train"], validation])
        made.append("train + validation (full data)")
    identity = {
        "source": source, "seed": seed, "made": made,
        "sizes": {k: len(v) for k, v in out.items()},
        "labels": out["train"].features["label"].names,
        "fingerprints": {k: v._fingerprint for k, v in out.items()},
    }
    return out, identity
