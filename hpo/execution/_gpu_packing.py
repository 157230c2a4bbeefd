"""Memory-aware GPU packing: each trial asks Ray for the share of a GPU its memory needs.

``resources: {gpu: 0.25}`` lets Ray put four trials on one GPU. Whether four fit
depends on the config: full fine-tuning at batch 64 needs several times the memory of
LoRA at batch 16. Before a trial starts, :class:`GpuSizer` asks the trainable for its
peak-memory estimate (:meth:`~hpo.trainables.Trainable.estimate_memory`), scales it by
what earlier trials measured against their estimates, and requests
``max(resources.gpu, peak / GPU memory)`` (rounded up to 1/16), through Ray Tune's
per-config resources (``tune.with_resources`` with a function). Ray's own accounting of
fractional GPUs then never places trials on one GPU beyond its memory: a trial that
does not fit waits, or runs on another GPU where it does.

Without an estimate (a user's own trainable, no GPU in the cluster) every trial asks
for ``resources.gpu`` as written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from hpo.trainables._memory import MemoryEstimate, gpu_fraction, refine

log = logging.getLogger(__name__)

#: How long the driver waits for a GPU worker to say how much memory its GPU has.
MEMORY_QUERY_TIMEOUT_S = 60.0


class GpuSizer:
    """Ray Tune's per-config resources: ``sizer(config) -> {"cpu": c, "gpu": share}``.

    Args:
        estimate: a trial's params -> its :class:`MemoryEstimate` (None: unknown).
        cpu: CPUs per trial (``resources.cpu``).
        gpu: the space's ``resources.gpu``, the least share a trial asks for.
        gpu_memory_bytes: memory of one GPU of the cluster.
    """

    def __init__(self, estimate: Callable[[dict[str, Any]], MemoryEstimate | None],
                 cpu: float, gpu: float, gpu_memory_bytes: int) -> None:
        self.estimate, self.cpu, self.gpu = estimate, cpu, gpu
        self.gpu_memory_bytes = gpu_memory_bytes
        self._history: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._warned = False

    def __call__(self, config: dict[str, Any]) -> dict[str, float]:
        from hpo.trainables._wrap import CONTEXT_KEY

        params = {k: v for k, v in config.items() if k != CONTEXT_KEY}
        try:
            est = self.estimate(params)
        except Exception as exc:  # noqa: BLE001 - a bad config fails in its trial, not here
            if not self._warned:
                log.warning("hpo: no GPU memory estimate for a trial (%s); it asks for "
                            "resources.gpu = %g", exc, self.gpu)
                self._warned = True
            est = None
        if est is None:
            return {"cpu": self.cpu, "gpu": self.gpu}
        return {"cpu": self.cpu, "gpu": gpu_fraction(self.peak(est.total),
                                                     self.gpu_memory_bytes, self.gpu)}

    def peak(self, estimated: int) -> int:
        """``estimated`` refined by the trials measured so far."""
        with self._lock:
            return refine(estimated, list(self._history))

    def observe(self, params: dict[str, Any], measured_peak: float) -> None:
        """Record a finished trial's measured peak (``gpu_peak_bytes``) against what was
        estimated for its params, for the next trials' estimates."""
        try:
            est = self.estimate(params)
        except Exception:  # noqa: BLE001 - nothing to learn from a config with no estimate
            return
        if est is not None and measured_peak > 0:
            with self._lock:
                self._history.append((est.total, int(measured_peak)))


def learn_from_study(sizer: GpuSizer, study: Any) -> int:
    """Feed ``sizer`` the peaks that the study's finished trials measured (earlier runs,
    other drivers); returns how many trials it learnt from."""
    from optuna.trial import TrialState

    from hpo.storage import attrs

    learnt = 0
    for trial in study.get_trials(deepcopy=False,
                                  states=(TrialState.COMPLETE, TrialState.PRUNED)):
        peaks = [float(v["gpu_peak_bytes"]) for k, v in trial.user_attrs.items()
                 if k.startswith(attrs.METRICS_PREFIX) and isinstance(v, dict)
                 and isinstance(v.get("gpu_peak_bytes"), (int, float))]
        if peaks:
            sizer.observe(dict(trial.params), max(peaks))
            learnt += 1
    return learnt


def cluster_gpu_memory(timeout: float = MEMORY_QUERY_TIMEOUT_S) -> int | None:
    """Total memory of a GPU of the Ray cluster (asked of a tiny GPU task), or None
    when the cluster has no GPU or none answers in time."""
    import ray

    if not ray.cluster_resources().get("GPU"):
        return None

    @ray.remote(num_gpus=0.01, num_cpus=0)
    def gpu_memory() -> int:
        import torch

        return int(torch.cuda.get_device_properties(0).total_memory)

    ref = gpu_memory.remote()
    try:
        return int(ray.get(ref, timeout=timeout))
    except Exception as exc:  # noqa: BLE001 - packing falls back to resources.gpu
        log.warning("hpo: could not read the GPUs' memory (%s); trials ask for "
                    "resources.gpu as written", exc)
        ray.cancel(ref, force=True)
        return None


def sizer_for(spec: Any, trainable: Any, study: Any = None) -> GpuSizer | None:
    """A :class:`GpuSizer` for a search whose trials ask for a GPU and whose trainable
    estimates its memory, taught by ``study``'s measured peaks; None otherwise (trials
    ask for ``resources.gpu``)."""
    from hpo.trainables._base import estimate_memory_of

    method = estimate_memory_of(trainable)
    if spec.resources.gpu <= 0 or method is None:
        return None
    memory = cluster_gpu_memory()
    if memory is None:
        return None
    from hpo.spaces._params import FixedParam

    # A stored trial's params hold what was sampled; the space's fixed values (applied
    # when their conditions hold) complete them for the estimate.
    fixed = {p.name: p.value for p in spec.params if isinstance(p, FixedParam) and not p.when}
    sizer = GpuSizer(lambda params: method({**fixed, **params}, spec.model, spec.data),
                     spec.resources.cpu, spec.resources.gpu, memory)
    if study is not None:
        learn_from_study(sizer, study)
    return sizer


def peak_observer(sizer: GpuSizer) -> Any:
    """A Ray Tune callback feeding each finished trial's largest ``gpu_peak_bytes`` report
    to ``sizer`` (:meth:`GpuSizer.observe`)."""
    from ray.tune import Callback

    from hpo.trainables._wrap import CONTEXT_KEY

    class PeakObserver(Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            self.peaks: dict[str, float] = {}

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                            result: dict[str, Any], **info: Any) -> None:
            peak = result.get("gpu_peak_bytes")
            if isinstance(peak, (int, float)):
                self.peaks[trial.trial_id] = max(self.peaks.get(trial.trial_id, 0.0),
                                                 float(peak))

        def _done(self, trial: Any) -> None:
            peak = self.peaks.pop(trial.trial_id, 0.0)
            if peak > 0:
                params = {k: v for k, v in trial.config.items() if k != CONTEXT_KEY}
                sizer.observe(params, peak)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                              **info: Any) -> None:
            self._done(trial)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                           **info: Any) -> None:
            self._done(trial)

    return PeakObserver()
