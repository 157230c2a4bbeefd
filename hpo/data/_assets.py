"""Finding offline assets that ship inside installed packages, without importing them."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (imports can be heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_file(package: str, relative: str, install_hint: str) -> Path:
    """A file inside an installed package.

    Raises:
        FileNotFoundError: the package or the file is missing; says how to install it.
    """
    folder = package_dir(package)
    if folder is None or not (folder / relative).exists():
        raise FileNotFoundError(
            f"{relative} from the package {package!r} is not installed: {install_hint}"
        )
    return folder / relative
