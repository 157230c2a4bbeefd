"""A missing optional package is named, with the extra that brings it."""

from __future__ import annotations

import sys

import pytest

from hpo._imports import require


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly", None)  # import of plotly now fails
    with pytest.raises(ImportError, match=r"'plotly'.*pip install 'hpo\[dashboard\]'"):
        require("plotly")


def test_search_without_ray_names_the_tune_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.execution._ray_init import ensure_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'hpo\[tune\]'"):
        ensure_ray()


def test_present_module_is_returned() -> None:
    assert require("json").dumps([1]) == "[1]"
