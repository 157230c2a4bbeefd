"""Ray Tune's trainable lookups, answered from memory while a search runs.

Ray Tune keeps the trainable in its registry in the GCS's key-value store and looks
it up again for every trial it creates: an existence check when the trial object is
made, and a read plus an unpickling each time it computes the trial's resources and
schedules its actor, five requests to the GCS per trial. On a busy 2-core driver
they cost 10-20 ms of the driver loop per trial, between one trial's end and the
next one's start. The registered trainable does not change while ``Tuner.fit``
runs, so :func:`memoized_trainable_lookups` answers repeated lookups from the first
answer; registering or removing anything clears the memo. Ray's registry is a
private structure: if it moves, Ray's own lookups run unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


@contextlib.contextmanager
def memoized_trainable_lookups() -> Iterator[None]:
    """Within the block, Tune's registry reads each trainable from the GCS once."""
    try:
        from ray.tune import registry

        store = registry._global_registry
        category = registry.TRAINABLE_CLASS
        originals = {name: getattr(store, name)
                     for name in ("get", "contains", "register", "unregister")}
    except (ImportError, AttributeError):
        yield
        return
    memo: dict[Any, Any] = {}
    found: set[Any] = set()

    def get(cat: str, key: str) -> Any:
        if cat != category:
            return originals["get"](cat, key)
        if key not in memo:
            memo[key] = originals["get"](cat, key)
        return memo[key]

    def contains(cat: str, key: str) -> bool:
        if cat != category:
            return bool(originals["contains"](cat, key))
        if key in found or key in memo:
            return True
        present = bool(originals["contains"](cat, key))
        if present:
            found.add(key)
        return present

    def clearing(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            memo.clear()
            found.clear()
            return method(*args, **kwargs)

        return call

    # Instance attributes shadow the class's methods for as long as the block runs.
    replacements = {"get": get, "contains": contains,
                    "register": clearing(originals["register"]),
                    "unregister": clearing(originals["unregister"])}
    for name, method in replacements.items():
        setattr(store, name, method)
    try:
        yield
    finally:
        for name in originals:
            # The originals are bound methods of the instance; dropping the instance
            # attributes brings the class's methods back.
            store.__dict__.pop(name, None)
