"""Creating, resuming and checking the Optuna study behind a search."""

from __future__ import annotations

import json
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


def _json_form(value: Any) -> Any:
    """``value`` as it reads back from the store (user attributes are JSON: tuples become
    lists, other objects strings), so a fresh identity compares equal to a stored one."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two identities, in words; both in their JSON form."""
    out = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if key == "params":
                before = {p["name"]: p for p in old.get(key) or []}
                after = {p["name"]: p for p in new.get(key) or []}
                changed = sorted(n for n in set(before) | set(after)
                                 if before.get(n) != after.get(n))
                out.append(f"params changed: {', '.join(changed)}" if changed
                           else "params reordered")
            else:
                out.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return out


def _refusal(name: str, what: str) -> StudyMismatch:
    return StudyMismatch(
        f"study {name!r} was created from a different experiment ({what}); resume "
        f"refused, nothing was written. Use --study NEW_NAME for a new study, "
        f"or --overwrite to delete {name!r} and start again."
    )


def _stored_direction(study: optuna.Study) -> str | None:
    """Optuna's own direction of ``study`` (``"maximize"``/``"minimize"``); None when it
    has several objectives."""
    directions = study.directions
    if len(directions) != 1:
        return None
    return directions[0].name.lower()


def _mismatch(study: optuna.Study, spec: SearchSpec, name: str,
              identity: dict[str, Any], fingerprint: str) -> StudyMismatch | None:
    """Why ``study`` cannot be continued with ``spec``, or None when it can.

    Optuna's own direction is checked as well as hpo's attributes, so a plain Optuna
    study (no hpo attributes) is never taken over by a space with the other direction,
    and a study whose attributes and direction disagree is never resumed.
    """
    want = spec.objective.direction
    have = _stored_direction(study)
    if have is None:
        return _refusal(name, f"direction: the study has {len(study.directions)} "
                              f"objectives, the space one ({want!r})")
    ua = study.user_attrs
    stored = ua.get(attrs.FINGERPRINT)
    if stored is not None and stored != fingerprint:
        diffs = _differences(_json_form(ua.get(attrs.IDENTITY) or {}), _json_form(identity))
        return _refusal(name, "; ".join(diffs) or "fingerprint differs")
    if have != want:
        return _refusal(name, f"direction: {have!r} -> {want!r}")
    metric = ua.get(attrs.METRIC)
    if metric is not None and metric != spec.objective.metric:
        return _refusal(name, f"metric: {metric!r} -> {spec.objective.metric!r}")
    return None


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

    Creating, checking and loading happen under the store-wide lock
    (:func:`hpo.storage._lock.schema_lock`), so any number of processes opening the
    same study at once end with exactly one study, made by the first, and retried
    through a store outage. Results a stopped run saved to its recovery file are
    replayed into the study (see :mod:`hpo.storage._recovery`).

    Raises:
        StudyMismatch: the study exists and was made from a different experiment
            (see :meth:`SearchSpec.identity`) or has another direction or metric
            (a plain Optuna study included); nothing is written in that case.
    """
    from hpo.storage._lock import schema_lock
    from hpo.storage._recovery import replay
    from hpo.storage._retry import open_window, retry

    if storage is None or isinstance(storage, str):
        storage = open_storage(storage)
    url = getattr(storage, "url", None)
    lock_url = url if isinstance(url, str) else ""

    def opened() -> optuna.Study:
        with schema_lock(lock_url):
            study = _open_locked(spec, name, storage, sampler, overwrite, identity_details)
            if lock_url:
                replay(study, storage, lock_url)
            return study

    return retry(opened, f"opening study {name!r}", window=open_window())


def _open_locked(
    spec: SearchSpec, name: str, storage: optuna.storages.BaseStorage,
    sampler: optuna.samplers.BaseSampler | None, overwrite: bool,
    identity_details: dict[str, dict[str, Any]] | None,
) -> optuna.Study:
    import optuna

    identity = spec.identity()
    fingerprint = spec.fingerprint()
    try:
        study: optuna.Study | None = optuna.load_study(
            study_name=name, storage=storage, sampler=sampler)
    except KeyError:
        study = None
    if study is not None:
        refused = _mismatch(study, spec, name, identity, fingerprint)
        if refused is not None:
            if not overwrite:
                raise refused
            optuna.delete_study(study_name=name, storage=storage)
            study = None
        elif study.user_attrs.get(attrs.FINGERPRINT) is not None:
            return study
    if study is None:
        study = optuna.create_study(
            study_name=name, storage=storage, sampler=sampler,
            direction=spec.objective.direction,  # type: ignore[arg-type]
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
