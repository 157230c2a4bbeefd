"""Starting (or joining) Ray quietly, with what trial workers need in their environment."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any

# Set before Ray is imported anywhere: no result files, no progress tables, no
# per-trial logger callbacks; the ledger and hpo's own progress line report instead.
QUIET_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "1000000",
    "RAY_TRAIN_V2_ENABLED": "0",
    # The driver reads the data once to describe it; no progress bars for that.
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
WORKER_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "PYTHONWARNINGS": "ignore",
}


def quiet_environment() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def ensure_ray(address: str | None = None, num_cpus: float | None = None,
               show_worker_logs: bool = False) -> bool:
    """Start Ray (or connect to ``address``) unless it is running; True if started here."""
    quiet_environment()
    from hpo._imports import require

    ray = require("ray")
    if ray.is_initialized():
        return False
    env = dict(WORKER_ENV)
    # Workers import user trainables ("module:function") from the current directory.
    paths = [os.getcwd(), *[p for p in sys.path if p]]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    for key in ("HF_HUB_OFFLINE", "HF_HOME", "HF_DATASETS_OFFLINE", "HPO_CACHE"):
        if key in os.environ:
            env[key] = os.environ[key]
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": show_worker_logs,
        # ERROR during start-up: Ray logs a notice about its token authentication at
        # every start; hpo keeps the authentication and drops the notice.
        "logging_level": logging.ERROR,
        "runtime_env": {"env_vars": env},
    }
    if address:
        kwargs["address"] = address
    elif num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ray.init(**kwargs)
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return True

