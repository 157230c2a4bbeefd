"""Creating, resuming and checking the Optuna study behind a search."""

from __future__ import annotations

import platform
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

from hpo.storage import attrs
from hpo.storage._url import open_storage

if TYPE_CHECKING:
    import optuna

    from hpo.spaces import SearchSpec


class StudyMismatch(ValueError):
    """Resuming a study with a different space, metric, direction, model or data."""


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("hpo", "optuna", "ray", "torch", "transformers", "datasets", "peft"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if key == "params":
                before = {p["name"]: p for p in old.get(key) or []}
                after = {p["name"]: p for p in new.get(key) or []}
                changed = sorted(n for n in set(before) | set(after)
                                 if before.get(n) != after.get(n))
                out.append(f"params changed: {', '.join(changed)}")
            else:
                out.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return out


def open_study(
    spec: SearchSpec,
    name: str,
    storage: str | optuna.storages.BaseStorage | None = None,
    sampler: optuna.samplers.BaseSampler | None = None,
    *,
    overwrite: bool = False,
    identity_details: dict[str, dict[str, Any]] | None = None,
) -> optuna.Study:
    """Load study ``name`` to continue it, or create it with hpo's attributes.

    ``storage`` is a URL (see :func:`hpo.storage.resolve_url`) or an opened storage.
    ``identity_details`` (keys ``model`` and ``data``) is what the trainable found
    out about them (resolved paths, file digests, split sizes); it is stored in
    place of the bare space sections.

    Raises:
        StudyMismatch: the study exists and was made from a different experiment
            (see :meth:`SearchSpec.identity`); nothing is written in that case.
    """
    import optuna

    if storage is None or isinstance(storage, str):
        storage = open_storage(storage)
    identity = spec.identity()
    fingerprint = spec.fingerprint()
    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    except KeyError:
        study = None
    if study is not None:
        stored = study.user_attrs.get(attrs.FINGERPRINT)
        if stored is not None and stored != fingerprint:
            if not overwrite:
                diffs = _differences(study.user_attrs.get(attrs.IDENTITY) or {}, identity)
                raise StudyMismatch(
                    f"study {name!r} was created from a different experiment "
                    f"({'; '.join(diffs) or 'fingerprint differs'}); "
                    f"resume refused. Use --study NEW_NAME for a new study, "
                    f"or --overwrite to delete {name!r} and start again."
                )
            optuna.delete_study(study_name=name, storage=storage)
            study = None
        elif stored is not None:
            return study
    if study is None:
        study = optuna.create_study(
            study_name=name, storage=storage, sampler=sampler,
            direction=spec.objective.direction,  # type: ignore[arg-type]
            load_if_exists=True,
        )
    for key, value in {
        attrs.SPACE_TEXT: spec.text,
        attrs.SPACE_PATH: spec.source,
        attrs.FINGERPRINT: fingerprint,
        attrs.IDENTITY: identity,
        attrs.METRIC: spec.objective.metric,
        attrs.DIRECTION: spec.objective.direction,
        attrs.MODEL: (identity_details or {}).get("model", spec.model),
        attrs.DATA: (identity_details or {}).get("data", spec.data),
        attrs.VERSIONS: package_versions(),
        attrs.SETTINGS: {
            "sampler": {"name": spec.sampler.name, "options": spec.sampler.options},
            "scheduler": {"name": spec.scheduler.name, "options": spec.scheduler.options},
            "value": spec.objective.value,
            "max_steps": spec.budget.max_steps,
            "created_at": time.time(),
        },
    }.items():
        study.set_user_attr(key, value)
    return study
