"""The extension point for trainables: a callable with optional, named capabilities.

Any ``fn(config)`` is a trainable (a user's ``module:function``). A trainable that
subclasses :class:`Trainable` also tells hpo what it knows; hpo uses each member at
one moment of a search:

1. :attr:`Trainable.config_keys`, when ``hpo validate`` or ``hpo run`` checks the
   space, before anything launches: a parameter outside them is refused by name.
2. :meth:`Trainable.describe`, once in the driver before the study is opened: its
   answer (resolved model files with digests, split sizes and fingerprints) is the
   study's model and data identity (stored on the study for provenance).
3. ``__call__(config)``, once per trial in a Ray worker.
4. :meth:`Trainable.estimate_memory`, in the driver when a trial that asks for a GPU is
   about to start: its peak-memory estimate sets the share of a GPU the trial asks
   Ray for (see :mod:`hpo.execution._gpu_packing`).
5. :meth:`Trainable.score_test`, once after the search: the best trial's config is
   retrained with its seed up to its best step and scored on the held-out test split.

Subclasses implement :meth:`fit` (train, report, return the trained model) and
:meth:`test_metrics`; :meth:`describe` and :meth:`score_test` are shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from hpo.trainables._common import file_digest

MODEL_SUFFIXES = (".json", ".safetensors", ".bin")


class Trainable:
    """Base class of the built-in trainables (see the module docstring for the call order).

    Attributes:
        name: the name a space's ``trainable`` uses.
        default_model: ``model.name_or_path`` when the space gives none.
        config_keys: every key a trial's config may hold.
    """

    name: ClassVar[str] = "trainable"
    default_model: ClassVar[str] = ""
    config_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.__name__ = self.name  # Ray Tune names the trainable after it

    def __call__(self, config: dict[str, Any]) -> None:
        self.fit(config)

    def fit(self, config: dict[str, Any]) -> Any:
        """Train with ``config`` in the running trial's context; the trained model, or
        None when the trial was told to stop."""
        raise NotImplementedError

    def data_identity(self, data: dict[str, Any]) -> dict[str, Any]:
        """What identifies the data a ``data`` section loads (sizes, fingerprints)."""
        raise NotImplementedError

    def estimate_memory(self, config: dict[str, Any], model: dict[str, Any],
                        data: dict[str, Any]) -> Any:
        """A :class:`~hpo.trainables._memory.MemoryEstimate` of one trial's peak GPU
        memory with ``config``, or None when this trainable cannot tell (the default)."""
        return None

    def test_metrics(self, trained: Any, config: dict[str, Any], model: dict[str, Any],
                     data: dict[str, Any]) -> dict[str, float]:
        """``accuracy``, ``eval_loss`` and ``examples`` of ``trained`` on the test split."""
        raise NotImplementedError

    def save_trained(self, trained: Any, folder: Path, config: dict[str, Any],
                     model: dict[str, Any], data_identity: dict[str, Any], *,
                     lora: str = "merge") -> list[str]:
        """Save ``trained`` (what :meth:`fit` returned) into ``folder`` so the model's own
        loader reads it; ``lora`` is ``merge`` (adapters folded into the weights) or
        ``adapter`` (a peft adapter beside the base model's name). Returns the files."""
        raise NotImplementedError(f"the {self.name!r} trainable cannot save a trained model")

    def describe(self, model: dict[str, Any], data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Identity of the model and data a search will use, checked before it starts.

        Raises:
            FileNotFoundError: the model or the data is not installed.
            ValueError: the data section is invalid (unknown key, missing column).
        """
        from hpo.trainables._models import resolve_model

        resolved = resolve_model(str(model.get("name_or_path", self.default_model)))
        model_id: dict[str, Any] = {**model, "resolved": resolved}
        path = Path(resolved)
        if path.is_file():
            model_id["files"] = {path.name: file_digest(path)}
        elif path.is_dir():
            model_id["files"] = {f.name: file_digest(f) for f in sorted(path.iterdir())
                                 if f.is_file() and f.suffix in MODEL_SUFFIXES}
        return {"model": model_id, "data": {**data, **self.data_identity(data)}}

    def score_test(self, config: dict[str, Any], model: dict[str, Any], data: dict[str, Any],
                   *, seed: int, step: int, threads: int) -> dict[str, float]:
        """Retrain ``config`` with ``seed`` up to report ``step`` and score the test split once.

        Returns:
            :meth:`test_metrics`, and the ``validation_accuracy`` the retrain reached at
            ``step`` (the trial's own when the retrain reproduces it: same config, seed
            and threads).
        """
        from hpo.trainables._context import TrialContext, use_context

        kept: dict[str, Any] = {}

        def keep(trained: Any, reports: int) -> bool:
            kept["model"] = trained
            return reports >= step

        ctx = TrialContext(seed=seed, cpus=threads, model=model, data=data, after_report=keep)
        with use_context(ctx):
            self.fit(config)
        reproduced = float(ctx.history[-1]["accuracy"]) if ctx.history else float("nan")
        metrics = self.test_metrics(kept["model"], config, model, data)
        return {**metrics, "validation_accuracy": reproduced}


def estimate_memory_of(fn: object) -> Any:
    """``fn.estimate_memory`` when ``fn`` is a :class:`Trainable`, else None."""
    return fn.estimate_memory if isinstance(fn, Trainable) else None


def describe_of(fn: object) -> Any:
    """``fn.describe`` for a :class:`Trainable`, else None (a plain function)."""
    return fn.describe if isinstance(fn, Trainable) else None


def score_test_of(fn: object) -> Any:
    """``fn.score_test`` for a :class:`Trainable`, else None (a plain function)."""
    return fn.score_test if isinstance(fn, Trainable) else None


def merge_or_keep_adapter(trained: Any, lora: str) -> tuple[Any, bool]:
    """``(model, is_adapter)``: a peft model merged into plain weights for ``merge``, kept
    as an adapter for ``adapter``; any other model unchanged."""
    if lora not in ("merge", "adapter"):
        raise ValueError(f"--lora: choose merge or adapter, got {lora!r}")
    if not hasattr(trained, "merge_and_unload"):
        return trained, False
    if lora == "merge":
        return trained.merge_and_unload(), False
    return trained, True


def config_keys_of(fn: object) -> frozenset[str] | None:
    """The keys a :class:`Trainable` accepts; None for a plain function (not checked)."""
    return fn.config_keys if isinstance(fn, Trainable) else None
