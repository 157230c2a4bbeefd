"""The sampler and scheduler names a space may use, read by validation and construction.

A name is one of the built-ins below, or ``package.module:attr`` naming a user's
own: for a sampler, a callable (an Optuna sampler class or a factory) called with
the space's ``options`` (and ``seed=`` when it takes one) that returns an
``optuna.samplers.BaseSampler``; for a scheduler, a Ray Tune ``TrialScheduler``
subclass constructed with ``metric=``, ``mode=`` and the ``options``. hpo records
the stops a user's scheduler makes like those of its own (PRUNED, "stopped by the
scheduler").

Nothing here imports Optuna or Ray: the space loader reads these names on every
``hpo validate``.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Built-in Optuna samplers (factories in :mod:`hpo.execution._samplers`).
SAMPLERS = ("tpe", "random", "gp", "cmaes", "qmc", "nsga2")
#: Built-in Ray Tune schedulers (wrapped in :mod:`hpo.execution._schedulers`).
SCHEDULERS = ("asha", "hyperband", "median", "fifo")

_KINDS = {"sampler": SAMPLERS, "scheduler": SCHEDULERS}


def is_import_path(name: str) -> bool:
    module, sep, attr = name.partition(":")
    return bool(sep and module and attr)


def name_error(kind: str, name: object) -> str | None:
    """Why ``name`` is no valid ``kind`` ("sampler" or "scheduler"), or None.

    An import path is only checked for its shape here; it is imported when the
    search is built (``hpo validate`` of a space with one imports nothing).
    """
    known = _KINDS[kind]
    if isinstance(name, str) and (name in known or is_import_path(name)):
        return None
    return (f"unknown {kind} {name!r}; choose one of {', '.join(known)} "
            f"or 'package.module:attr'")


def load_attr(kind: str, path: str) -> Any:
    """The object ``package.module:attr`` names.

    Raises:
        ValueError: the module cannot be imported or has no such attribute.
    """
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{kind} {path!r}: cannot import module {module_name!r}: {exc}") \
            from exc
    obj = getattr(module, attr, None)
    if obj is None:
        raise ValueError(f"{kind} {path!r}: module {module_name!r} has no attribute {attr!r}")
    return obj
