"""The promotion bundle: one config and its provenance, as YAML or JSON.

``hpo export`` writes it, ``hpo train`` and a user's own code read it. Its keys:

* ``format``: ``hpo-bundle/1``.
* ``trainable``, ``config`` (every key the trainable gets: sampled and fixed values),
  ``model`` and ``data`` (the space's sections, which ``hpo train`` loads again),
  ``objective`` (``metric``, ``direction``), ``seed`` (what ``hpo train`` trains with).
* ``provenance``: ``study`` and ``study_id``, ``trial`` and ``trial_id``, ``space``
  (``path``, ``fingerprint``, ``text``), ``model_identity`` and ``data_identity`` (resolved
  model files with digests; split seed, sizes and fingerprints), ``sampler_seed`` (the
  study's base seed and each run's), ``versions`` (packages of the search), ``exported_at``.
* ``scores``: ``search`` (the trial's value and step), ``robust`` (the finalize record
  of this config: mean, std, 95 % interval, seeds, pick rule, selection split,
  optimism; null when not finalized) and ``test`` (the held-out test score when the
  search's retrain of this trial scored it; else null).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hpo.shipping import keys

FORMAT = "hpo-bundle/1"
FORMATS = ("yaml", "json")
REQUIRED = ("format", "trainable", "config", "model", "data", "objective", "provenance",
            "scores")


class BundleError(ValueError):
    """A bundle file that cannot be used (names the file and the field)."""


def build_bundle(study_name: str, storage: str | None, trial: int | None = None
                 ) -> dict[str, Any]:
    """The bundle of ``trial`` in ``study_name``: the finalize pick when there is one,
    else the best trial.

    Raises:
        KeyError: no such study. ValueError: no such trial, or it did not complete.
    """
    from optuna.trial import TrialState

    from hpo.execution._runs import trial_seed
    from hpo.shipping.finalize import load_search
    from hpo.spaces import config_from_params
    from hpo.storage import attrs

    study, spec = load_search(study_name, storage)
    finalized = study.user_attrs.get(keys.FINALIZE)
    finalized = finalized if isinstance(finalized, dict) and "candidates" in finalized else None
    if trial is None:
        if finalized is not None and finalized.get("picked") is not None:
            trial = int(finalized["picked"])
        else:
            try:
                trial = study.best_trial.number
            except ValueError:
                raise ValueError(f"study {study_name!r} has no COMPLETE trial to export"
                                 ) from None
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    chosen = trials.get(trial)
    if chosen is None or chosen.state != TrialState.COMPLETE:
        state = "no such trial" if chosen is None else f"its state is {chosen.state.name}"
        raise ValueError(f"--trial {trial!r}: study {study_name!r} cannot export it ({state})")
    robust = None
    if finalized is not None:
        for cand in finalized["candidates"]:
            if cand.get("trial") == trial:
                robust = {**{k: cand.get(k) for k in ("mean", "std", "low", "high", "n",
                                                       "scores")},
                          "seeds": finalized.get("seeds"), "pick_by": finalized.get("pick_by"),
                          "picked": finalized.get("picked") == trial,
                          "selection": finalized.get("selection"),
                          "optimism": None if cand.get("mean") is None
                          else float(chosen.value) - float(cand["mean"]),  # type: ignore[arg-type]
                          "finalize_study": finalized.get("study")}
    test = study.user_attrs.get(attrs.TEST)
    from hpo.storage import open_storage

    storage_obj = open_storage(storage)
    study_id = storage_obj.get_study_id_from_name(study_name)
    config = config_from_params(spec, chosen.params)
    seed = int(config.get("seed", 0 if robust is not None else trial_seed(study_name, trial)))
    return {
        "format": FORMAT,
        "trainable": spec.trainable,
        "config": config,
        "model": spec.model,
        "data": spec.data,
        "objective": {"metric": spec.objective.metric, "direction": spec.objective.direction},
        # A finalized config trains with the first finalize seed; otherwise with the
        # trial's own seed, so the retrain follows the search's run of it.
        "seed": seed,
        "provenance": {
            "study": study_name, "study_id": study_id, "trial": trial,
            "trial_id": storage_obj.get_trial_id_from_study_id_trial_number(study_id, trial),
            "space": {"path": study.user_attrs.get(attrs.SPACE_PATH),
                      "fingerprint": study.user_attrs.get(attrs.FINGERPRINT),
                      "text": study.user_attrs.get(attrs.SPACE_TEXT)},
            "model_identity": study.user_attrs.get(attrs.MODEL),
            "data_identity": study.user_attrs.get(attrs.DATA),
            "sampler_seed": {"study": study.user_attrs.get(attrs.SEED),
                             "runs": [r.get("seed") for r in
                                      study.user_attrs.get(attrs.RUNS) or []]},
            "versions": study.user_attrs.get(attrs.VERSIONS),
            "exported_at": time.time(),
        },
        "scores": {
            "search": {"value": chosen.value, "step": chosen.user_attrs.get(attrs.BEST_STEP)},
            "robust": robust,
            "test": test if isinstance(test, dict) and test.get("trial") == trial else None,
        },
    }


def dumps(bundle: dict[str, Any], fmt: str) -> str:
    """The bundle as ``yaml`` or ``json`` text."""
    if fmt not in FORMATS:
        raise ValueError(f"--format: choose one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "json":
        return json.dumps(bundle, indent=2, sort_keys=False, default=str) + "\n"
    import yaml

    return yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True)


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place, so a
    reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(study_name: str, out: str | Path, *, storage: str | None = None,
           fmt: str | None = None, trial: int | None = None) -> dict[str, Any]:
    """Write the bundle to ``out`` (format from ``fmt`` or the suffix) and record it on the
    study (:data:`keys.EXPORT`). Returns the bundle."""
    import optuna

    from hpo.storage import open_storage

    path = Path(out)
    fmt = fmt or ("json" if path.suffix.lower() == ".json" else "yaml")
    if fmt not in FORMATS:  # refused before the study is read
        raise ValueError(f"--format: choose one of {', '.join(FORMATS)}, got {fmt!r}")
    bundle = build_bundle(study_name, storage, trial)
    write_text_atomically(path, dumps(bundle, fmt))
    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    study.set_user_attr(keys.EXPORT, {
        "path": str(path.resolve()), "format": fmt, "trial": bundle["provenance"]["trial"],
        "source": "finalize" if bundle["scores"]["robust"] else "best trial",
        "written_at": time.time()})
    return bundle


def read_bundle(path: str | Path) -> dict[str, Any]:
    """A bundle written by :func:`export` (YAML or JSON, by content).

    Raises:
        BundleError: unreadable, not a bundle, or a field missing; names the file and field.
    """
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))  # JSON is YAML too
    except FileNotFoundError:
        raise BundleError(f"{p}: no such bundle file") from None
    except yaml.YAMLError as exc:
        raise BundleError(f"{p}: not YAML or JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{p}: expected a mapping at top level, got {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise BundleError(f"{p}: format: expected {FORMAT!r}, got {doc.get('format')!r}")
    for name in REQUIRED:
        if name not in doc:
            raise BundleError(f"{p}: {name}: missing")
    for name in ("config", "model", "data", "provenance"):
        if not isinstance(doc[name], dict):
            raise BundleError(f"{p}: {name}: expected a mapping, got {doc[name]!r}")
    return doc
