"""``hpo train``: the final model from a promotion bundle.

Retrains the bundle's config with its seed (on train + validation with
``full_data``), evaluates once on the test split, and writes a model folder the
model's own loader reads, ``metrics.json`` and a copy of the bundle. The folder is
built beside ``out`` under a temporary name and renamed into place at the end, so
an interrupted run leaves no half-written model. A bundle whose model files or data
splits no longer match what the search used is refused, naming each change, unless
``force``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpo.execution._placement import usable_cpus
from hpo.shipping.bundle import BundleError, dumps, read_bundle


class BundleMismatch(ValueError):
    """The model or data a bundle was made from has changed."""


def identity_changes(recorded_model: dict[str, Any], recorded_data: dict[str, Any],
                     now: dict[str, dict[str, Any]]) -> list[str]:
    """Each difference between the identity a bundle recorded and what is installed now:
    model file digests, and data split sizes, fingerprints and labels."""
    out = []
    before = recorded_model.get("files") or {}
    after = now["model"].get("files") or {}
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            out.append(f"model file {name}: digest {before.get(name)!r} -> {after.get(name)!r}")
    for key in ("sizes", "fingerprints"):
        old, new = recorded_data.get(key) or {}, now["data"].get(key) or {}
        for split in sorted(set(old) | set(new)):
            if old.get(split) != new.get(split):
                out.append(f"data split {split}: {key[:-1]} {old.get(split)!r} -> "
                           f"{new.get(split)!r}")
    if recorded_data.get("labels") != now["data"].get("labels"):
        out.append(f"data labels: {recorded_data.get('labels')!r} -> "
                   f"{now['data'].get('labels')!r}")
    return out


def _progress_printer(stream: Any, total: int) -> Callable[[dict[str, Any], int, float], None]:
    def show(metrics: dict[str, Any], reports: int, t0: float) -> None:
        acc = metrics.get("accuracy")
        shown = "-" if acc is None else f"{float(acc):.4f}"
        print(f"hpo train: evaluation {reports}/{total}, epoch {metrics.get('epoch', 0):.2f}, "
              f"validation accuracy {shown}, train loss {metrics.get('train_loss', 0):.4f}, "
              f"{time.time() - t0:.0f} s", file=stream, flush=True)
    return show


def train_bundle(bundle_path: str | Path, out: str | Path, *, full_data: bool = False,
                 lora: str = "merge", force: bool = False, threads: int | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Train the bundle's config and save the final model folder at ``out``.

    Returns:
        What ``metrics.json`` holds.

    Raises:
        BundleError: the file is not a usable bundle, or ``out`` is not empty.
        BundleMismatch: model or data changed since the search (not with ``force``).
        ValueError: the trainable cannot save a model (a plain function).
    """
    from hpo.trainables import resolve_trainable
    from hpo.trainables._base import Trainable, merge_or_keep_adapter
    from hpo.trainables._context import TrialContext, use_context

    path = Path(bundle_path)
    bundle = read_bundle(path)
    merge_or_keep_adapter(None, lora)  # refuses a bad --lora before any work
    target = Path(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BundleError(f"{target}: exists and is not an empty folder; choose another --out")
    trainable = resolve_trainable(str(bundle["trainable"]))
    if not isinstance(trainable, Trainable):
        raise ValueError(f"{path}: trainable: {bundle['trainable']!r} is a plain function; "
                         "hpo train needs a built-in trainable that can save its model")
    model, data, config = dict(bundle["model"]), dict(bundle["data"]), dict(bundle["config"])
    prov = bundle["provenance"]
    now = trainable.describe(model, data)
    changes = identity_changes(prov.get("model_identity") or {}, prov.get("data_identity") or {},
                               now)
    if changes and not force:
        raise BundleMismatch(f"{path}: the model or data changed since study "
                             f"{prov.get('study')!r} searched it: {'; '.join(changes)}. "
                             "Use --force to train anyway.")
    train_data = {**data, "full_data": True} if full_data else data
    seed = int(bundle.get("seed", 0))
    cpus = threads or usable_cpus()
    total = int(config.get("epochs", 1)) * int(config.get("evals_per_epoch", 1))
    show = _progress_printer(sys.stderr, total) if progress else None
    t0 = time.time()
    kept: dict[str, Any] = {}

    def after_report(trained: Any, reports: int) -> bool:
        kept["model"] = trained
        if show is not None:
            show(ctx.history[-1], reports, t0)
        return False

    ctx = TrialContext(seed=seed, cpus=cpus, model=model, data=train_data,
                       after_report=after_report)
    if progress:
        print(f"hpo train: {bundle['trainable']} with seed {seed} on "
              f"{'train + validation' if full_data else 'the training split'}",
              file=sys.stderr, flush=True)
    with use_context(ctx):
        trained = trainable.fit(config)
    trained = trained if trained is not None else kept.get("model")
    train_seconds = time.time() - t0
    test = trainable.test_metrics(trained, config, model, train_data)
    identity = trainable.data_identity(train_data)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        files = trainable.save_trained(trained, staging, config, model, identity, lora=lora)
        metrics = {
            "test": test,
            "validation": {k: v for k, v in (ctx.history[-1] if ctx.history else {}).items()},
            "validation_in_training": full_data,
            "full_data": full_data, "seed": seed, "lora": lora, "threads": cpus,
            "train_seconds": round(train_seconds, 1), "data_sizes": identity.get("sizes"),
            "study": prov.get("study"), "trial": prov.get("trial"),
            "identity_changes": changes, "forced": bool(changes),
            "model_files": files,
        }
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        (staging / "bundle.yaml").write_text(dumps(bundle, "yaml"))
        if target.exists():
            target.rmdir()  # empty (checked above); os.replace needs it gone for a folder
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metrics
