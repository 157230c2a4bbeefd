"""What a trainable calls: report with a checkpoint, the checkpoint a retry resumes
from, and which errors mark a config infeasible (no Ray: the reporters are fakes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import hpo
from hpo.trainables._context import STATE_FILE, TrialContext, use_context
from hpo.trainables._wrap import infeasible_reason


def _context(sent: list[tuple[dict[str, Any], Any]], **facts: Any) -> TrialContext:
    def with_checkpoint(metrics: dict[str, Any], folder: Path) -> None:
        # What Ray does inside tune.report: copy the folder while the call lasts.
        sent.append((metrics, json.loads((folder / STATE_FILE).read_text())
                     if (folder / STATE_FILE).exists() else folder))

    return TrialContext(reporter=lambda m: sent.append((m, None)),
                        checkpoint_reporter=with_checkpoint, **facts)


def test_a_dict_checkpoint_travels_as_a_state_file(tmp_path: Path) -> None:
    sent: list[tuple[dict[str, Any], Any]] = []
    with use_context(_context(sent)):
        hpo.report({"loss": 0.5})
        hpo.report({"loss": 0.4}, checkpoint={"epoch": 2, "lr": 0.1})
    assert sent == [({"loss": 0.5}, None), ({"loss": 0.4}, {"epoch": 2, "lr": 0.1})]


def test_a_directory_checkpoint_is_passed_as_is(tmp_path: Path) -> None:
    sent: list[tuple[dict[str, Any], Any]] = []
    (tmp_path / "weights.bin").write_bytes(b"w")
    with use_context(_context(sent)):
        hpo.report({"loss": 0.4}, checkpoint=tmp_path)
    assert sent == [({"loss": 0.4}, tmp_path)]


def test_bad_checkpoints_are_refused_with_the_value(tmp_path: Path) -> None:
    with use_context(_context([])):
        with pytest.raises(TypeError, match="JSON-serialisable"):
            hpo.report({"loss": 1.0}, checkpoint={"model": object()})
        with pytest.raises(FileNotFoundError, match="nowhere"):
            hpo.report({"loss": 1.0}, checkpoint=tmp_path / "nowhere")
        with pytest.raises(TypeError, match="got int 3"):
            hpo.report({"loss": 1.0}, checkpoint=3)  # type: ignore[arg-type]


def test_a_retry_reads_its_checkpoint_back(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text(json.dumps({"epoch": 3}))
    with use_context(TrialContext(restore=tmp_path, start_step=3, attempt=1)):
        assert hpo.checkpoint_dir() == tmp_path
        assert hpo.checkpoint_state() == {"epoch": 3}
        assert hpo.trial_context().start_step == 3
    with use_context(TrialContext()):
        assert hpo.checkpoint_dir() is None and hpo.checkpoint_state() is None


def test_outside_a_search_a_checkpoint_is_ignored() -> None:
    sent: list[dict[str, Any]] = []
    with use_context(TrialContext(reporter=sent.append)):
        hpo.report({"loss": 1.0}, checkpoint={"epoch": 1})
    assert sent == [{"loss": 1.0}]


def test_should_stop_at_the_trials_own_limit() -> None:
    with use_context(TrialContext(trial_deadline=0.0)):
        assert hpo.should_stop()
    with use_context(TrialContext(trial_deadline=None)):
        assert not hpo.should_stop()


def test_which_errors_mean_the_config_cannot_run() -> None:
    import torch

    assert "MemoryError" in (infeasible_reason(MemoryError("batch")) or "")
    oom = infeasible_reason(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert oom is not None and oom.startswith("out of memory (torch")
    assert "OutOfMemoryError" in oom and "CUDA out of memory" in oom
    assert "infeasible config: too wide" == infeasible_reason(hpo.Infeasible("too wide"))
    assert infeasible_reason(ValueError("bug")) is None
    assert infeasible_reason(RuntimeError("CUDA out of memory")) is None  # only the type
