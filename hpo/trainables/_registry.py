"""Finding a trainable by name: built-in names or ``module:function``."""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpo.spaces import SearchSpec

#: Any ``fn(config)``; built-ins are :class:`~hpo.trainables.Trainable` instances.
TrainableFn = Callable[[dict[str, Any]], Any]

#: Built-in trainables, imported only when used.
BUILTINS = {
    "text_classification": "hpo.trainables.text:train_text_classifier",
    "image_classification": "hpo.trainables.image:train_image_classifier",
    "synthetic": "hpo.trainables.synthetic:train_synthetic",
}


def resolve_trainable(name: str) -> TrainableFn:
    """The function a space's ``trainable`` names.

    Raises:
        ValueError: the name is neither built in nor an importable ``module:function``.
    """
    target = BUILTINS.get(name, name)
    if ":" not in target:
        raise ValueError(
            f"unknown trainable {name!r}: use one of {', '.join(sorted(BUILTINS))} "
            "or 'package.module:function'"
        )
    module_name, _, attr = target.partition(":")
    # User trainables live beside the space files, in the directory hpo runs from;
    # a console script's sys.path does not include it.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"trainable {name!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"trainable {name!r}: module {module_name!r} has no function {attr!r}")
    return fn


def unknown_settings(spec: SearchSpec, fn: TrainableFn) -> list[str]:
    """One message (``params.NAME: ...``) per parameter ``fn`` has no setting for.

    A :class:`~hpo.trainables.Trainable` lists its settings in ``config_keys``; a
    misspelt parameter would otherwise pass validation and make every trial fail. A
    plain function (a user's) is not checked.
    """
    from hpo.trainables._base import config_keys_of

    keys = config_keys_of(fn)
    if keys is None:
        return []
    problems = []
    for param in spec.params:
        if param.name in keys:
            continue
        hint = difflib.get_close_matches(param.name, sorted(keys), n=1)
        problems.append(
            f"params.{param.name}: the {spec.trainable!r} trainable has no "
            f"setting {param.name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; its settings: {', '.join(sorted(keys))}")
    return problems
