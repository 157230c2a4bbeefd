"""Lazy imports of optional heavy packages with errors that name the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

# Which pip extra brings each optional package.
_EXTRAS = {
    "ray": "tune",
    "torch": "text",
    "transformers": "text",
    "datasets": "text",
    "peft": "text",
    "plotly": "dashboard",
    "psycopg": "postgres",
    "playwright": "dev",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = _EXTRAS.get(top)
        hint = f"pip install 'hpo[{extra}]'" if extra else f"pip install {top}"
        raise ImportError(f"hpo needs the package {top!r} for this feature: {hint}") from exc
