"""Where a built-in trial trains and in which precision: the GPU Ray gave it, or the CPU.

Ray hands a trial its GPUs by setting ``CUDA_VISIBLE_DEVICES`` for the worker and
answering ``ray.get_runtime_context().get_accelerator_ids()``; this module turns that
into a torch device the way ``ray.train.torch.get_devices`` does (the position of the
assigned id among the visible ones), without needing Ray Train. With no GPU assigned a
trial trains on the CPU even on a GPU machine, so ``resources.gpu: 0`` means what it
says. Outside Ray (``hpo train``), the first visible GPU is used when there is one.

Precision (the ``precision`` config key): ``auto`` is bf16 autocast on a GPU that
supports it, fp16 autocast with a gradient scaler on one that does not, fp32 on the
CPU; ``bf16`` also runs on the CPU (torch's CPU autocast); ``fp16`` needs a GPU.
Weights stay in fp32 under autocast, so only activations and matmuls change width.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: Report key of a trial's hardware (a JSON object); the driver stores it as hpo:hardware.
HARDWARE_KEY = "hpo_hardware"
_DTYPES = {"bf16": "bfloat16", "fp16": "float16"}


def device_for(gpu_ids: Sequence[int | str], visible: str | None, cuda_available: bool) -> str:
    """The torch device name for a worker given its assigned GPU ids.

    Args:
        gpu_ids: the ids Ray assigned (``get_accelerator_ids()["GPU"]``); empty for none.
        visible: the worker's ``CUDA_VISIBLE_DEVICES`` (None when unset).
        cuda_available: whether torch sees CUDA in this process.

    Returns:
        ``"cpu"`` with no assigned GPU or no CUDA, else ``"cuda:N"`` where N is the
        assigned id's position among the visible devices (its id when none are listed).
    """
    if not gpu_ids or not cuda_available:
        return "cpu"
    first = str(gpu_ids[0]).strip()
    order = [d.strip() for d in (visible or "").split(",") if d.strip()]
    if order:
        return f"cuda:{order.index(first)}" if first in order else "cuda:0"
    return f"cuda:{int(first)}" if first.isdigit() else "cuda:0"


def trial_device() -> str:
    """The device this process should train on (see the module docstring)."""
    import torch

    cuda = bool(torch.cuda.is_available())
    ray_ids = _ray_gpu_ids()
    if ray_ids is None:  # not inside Ray: the first visible GPU, if any
        return "cuda:0" if cuda else "cpu"
    return device_for(ray_ids, os.environ.get("CUDA_VISIBLE_DEVICES"), cuda)


def _ray_gpu_ids() -> list[str] | None:
    """GPU ids Ray assigned to this worker; None when this process is not a Ray worker."""
    import sys

    if "ray" not in sys.modules:  # never import Ray just to ask
        return None
    ray = sys.modules["ray"]
    if not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    if context.get_actor_id() is None and context.get_task_id() is None:
        return None  # the driver: Ray assigns GPUs to tasks and actors only
    return [str(i) for i in context.get_accelerator_ids().get("GPU", [])]


def choose_precision(requested: str, device_type: str, bf16_supported: bool) -> str:
    """The precision a trial trains in.

    Args:
        requested: one of :data:`PRECISIONS`.
        device_type: ``"cuda"`` or ``"cpu"``.
        bf16_supported: whether the GPU computes in bf16 (``torch.cuda.is_bf16_supported``).

    Raises:
        ValueError: an unknown precision, or fp16 (or bf16 on a GPU without it) asked
            for where it cannot run; the message says what to use instead.
    """
    if requested not in PRECISIONS:
        raise ValueError(f"precision: {requested!r} is not one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        if device_type != "cuda":
            return "fp32"
        return "bf16" if bf16_supported else "fp16"
    if requested == "fp16" and device_type != "cuda":
        raise ValueError("precision: 'fp16' needs a GPU (this trial runs on the CPU); "
                         "use 'bf16' or 'fp32' there, or 'auto'")
    if requested == "bf16" and device_type == "cuda" and not bf16_supported:
        raise ValueError("precision: 'bf16' is not supported by this GPU; use 'fp16' or "
                         "'auto'")
    return requested


@dataclass(frozen=True)
class Placement:
    """A trial's device and precision, with the autocast context and scaler they imply."""

    device: str
    precision: str

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The forward pass's context: autocast to bf16/fp16, or nothing for fp32."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(self.device_type, dtype=getattr(torch, _DTYPES[self.precision]))

    @property
    def uses_scaler(self) -> bool:
        """fp16's small range underflows gradients: they are scaled up, then back."""
        return self.precision == "fp16"

    def scaler(self) -> Any:
        """A gradient scaler when :attr:`uses_scaler`, else None."""
        if not self.uses_scaler:
            return None
        import torch

        return torch.amp.GradScaler(self.device_type)


def place(requested: str = "auto", device: str | None = None) -> Placement:
    """The trial's :class:`Placement`: its device (default :func:`trial_device`) and the
    precision :func:`choose_precision` picks there."""
    import torch

    device = device or trial_device()
    cuda = device.startswith("cuda")
    bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    return Placement(device, choose_precision(requested, "cuda" if cuda else "cpu", bf16))


def hardware(device: str) -> dict[str, Any]:
    """What a trial ran on, for the study: device, GPU name and memory, CPU count."""
    record: dict[str, Any] = {"device": device, "cpu_count": os.cpu_count()}
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(torch.device(device))
        record.update(gpu=props.name, gpu_memory_bytes=int(props.total_memory))
    return record
