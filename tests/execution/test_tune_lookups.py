"""Ray Tune's trainable lookups are read from the GCS once per search, not per trial."""

from __future__ import annotations

from typing import Any

import pytest


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    import ray.experimental.internal_kv as kv
    from ray.tune import registry

    calls = {"kv": 0}
    real = kv._internal_kv_get

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls["kv"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "_internal_kv_get", counted)
    return calls


def test_repeated_lookups_of_a_trainable_read_the_store_once(
        ray_cluster: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray.tune")
    from ray.tune.registry import get_trainable_cls, register_trainable, validate_trainable

    from hpo.execution._tune_lookups import memoized_trainable_lookups

    def trainable(config: dict[str, Any]) -> None:
        return None

    register_trainable("hpo_memo_test", trainable)
    calls = _counting(monkeypatch)
    first = get_trainable_cls("hpo_memo_test")
    assert calls["kv"] == 2  # Ray alone: an existence check and a read, every time
    with memoized_trainable_lookups():
        calls["kv"] = 0
        classes = []
        for _ in range(5):
            validate_trainable("hpo_memo_test")
            classes.append(get_trainable_cls("hpo_memo_test"))
        assert calls["kv"] == 2  # once for the whole block
        assert all(cls is classes[0] for cls in classes)
        assert classes[0].__name__ == first.__name__

        def other(config: dict[str, Any]) -> None:
            return None

        register_trainable("hpo_memo_test", other)  # a new registration is read afresh
        calls["kv"] = 0
        assert get_trainable_cls("hpo_memo_test") is not classes[0]
        assert calls["kv"] == 2
    calls["kv"] = 0
    get_trainable_cls("hpo_memo_test")
    assert calls["kv"] == 2  # Ray's own lookups are back


def test_unknown_trainables_are_still_refused_within_the_block(ray_cluster: None) -> None:
    pytest.importorskip("ray.tune")
    from ray.tune import TuneError
    from ray.tune.registry import validate_trainable

    from hpo.execution._tune_lookups import memoized_trainable_lookups

    with memoized_trainable_lookups(), pytest.raises(TuneError):
        validate_trainable("hpo_no_such_trainable")
