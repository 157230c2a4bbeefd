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


def extra_for(module: str) -> str | None:
    """The pip extra that brings ``module`` (a dotted name is looked up by its top)."""
    return _EXTRAS.get(module.split(".")[0])


def install_hint(module: str) -> str:
    extra = extra_for(module)
    top = module.split(".")[0]
    return f"pip install 'hpo[{extra}]'" if extra else f"pip install {top}"


def missing_extra_line(exc: ImportError) -> str | None:
    """One line for a missing optional package (which one, which extra brings it), or
    None when ``exc`` is not about one of hpo's optional packages (then it is a bug
    and its traceback is shown)."""
    name = exc.name or ""
    if not name or extra_for(name) is None:
        return None
    top = name.split(".")[0]
    return (f"this command needs the optional package {top!r}, which is not installed: "
            f"{install_hint(top)}")


def require(module: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise ImportError(f"hpo needs the package {top!r} for this feature: "
                          f"{install_hint(top)}", name=top) from exc
