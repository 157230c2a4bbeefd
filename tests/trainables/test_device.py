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
