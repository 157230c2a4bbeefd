"""Which parameters of a pre-trained classifier a trial trains.

:func:`apply_strategy` implements four fine-tuning strategies for ``transformers``
sequence/image classifiers (BERT-like encoders, ViT) and plain torch CNNs:

* ``full``: everything trains;
* ``linear_probe``: only the classification head trains;
* ``freeze_bottom``: the embeddings (or CNN stem) and the bottom ``k`` encoder
  layers (or CNN blocks) are frozen, everything above trains;
* ``lora``: low-rank adapters through ``peft``; the head is kept trainable as a
  ``modules_to_save`` copy.

The model's anatomy is found by name: the head is the shallowest module called
``classifier``, ``score``, ``fc`` or ``head``; the layers are the first
``ModuleList``/``Sequential`` found under ``encoder.layer``, ``layers``,
``blocks``, ... Parameters registered before the first layer are the
"embeddings" (stem); those after the last layer (pooler, final norm) sit on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

STRATEGIES = ("full", "linear_probe", "freeze_bottom", "lora")
HEAD_NAMES = ("classifier", "score", "fc", "head")
# The shallowest matching container wins (a ResNet's ``encoder.stages`` over the
# ``layers`` inside each stage); on equal depth the earlier suffix wins.
LAYER_SUFFIXES = ("encoder.layer", "encoder.layers", "transformer.layer", "transformer.h",
                  "layers", "blocks", "stages", "layer", "features")
# Attention projections LoRA adapts by default, per naming family.
ATTENTION_TARGETS = (("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"),
                     ("qkv",), ("c_attn",))


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyperparameters.

    Attributes:
        rank: Rank ``r`` of the adapters.
        alpha: Scaling numerator ``lora_alpha`` (the update is scaled by alpha / r).
        dropout: Dropout on the adapter input.
        target_modules: Leaf module names to adapt; ``None`` picks the attention
            query/value projections, or every Linear/Conv2d in the layers.
    """

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"rank must be an int >= 1, got {self.rank!r}")
        if not (self.alpha > 0):
            raise ValueError(f"alpha must be > 0, got {self.alpha!r}")
        if not (0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.target_modules is not None:
            if isinstance(self.target_modules, str) or not self.target_modules:
                raise ValueError(f"target_modules must be a non-empty sequence of names, "
                                 f"got {self.target_modules!r}")
            object.__setattr__(self, "target_modules", tuple(self.target_modules))


def _depth(name: str) -> int:
    return name.count(".")


def _is_under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def find_head(model: nn.Module) -> tuple[str, nn.Module]:
    """Find the classification head.

    Args:
        model: A classifier.

    Returns:
        ``(dotted_name, module)`` of the shallowest module named like a head
        (``classifier``, ``score``, ``fc``, ``head``), the one registered last on
        ties.

    Raises:
        ValueError: Naming the model class when there is no such module.
    """
    found = [(name, module) for name, module in model.named_modules()
             if name.rsplit(".", 1)[-1] in HEAD_NAMES and any(True for _ in module.parameters())]
    if not found:
        raise ValueError(f"cannot find the classification head of {type(model).__name__}: "
                         f"no module named one of {HEAD_NAMES}")
    shallowest = min(_depth(name) for name, _ in found)
    return [(n, m) for n, m in found if _depth(n) == shallowest][-1]


def find_encoder_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Find the ordered encoder layers (or CNN blocks), bottom first.

    Looks for a ``ModuleList``/``Sequential`` whose name ends in one of
    :data:`LAYER_SUFFIXES` (``bert.encoder.layer``, ``blocks``, ...) outside the
    head, preferring the shallowest; failing that, a ResNet-style run of children
    ``layer1``, ``layer2``, ...

    Args:
        model: A classifier.

    Returns:
        ``[(dotted_name, layer), ...]`` from the input side to the output side.

    Raises:
        ValueError: Naming the model class when nothing matches.
    """
    try:
        head_name = find_head(model)[0]
    except ValueError:
        head_name = None
    containers = [(name, module) for name, module in model.named_modules()
                  if isinstance(module, (nn.ModuleList, nn.Sequential)) and len(module) > 0
                  and not (head_name and _is_under(name, head_name))]
    ranked = [(_depth(name), rank, name, module) for name, module in containers
              for rank, suffix in enumerate(LAYER_SUFFIXES)
              if name == suffix or name.endswith("." + suffix)]
    if ranked:
        _, _, name, container = min(ranked, key=lambda r: (r[0], r[1]))
        return [(f"{name}.{child}", layer) for child, layer in container.named_children()]
    # torchvision ResNet keeps its stages as separate attributes layer1..layer4.
    for name, module in model.named_modules():
        numbered = [(f"{name}.{c}" if name else c, m) for c, m in module.named_children()
                    if c.startswith("layer") and c[5:].isdigit()]
        if numbered:
            return sorted(numbered, key=lambda nm: int(nm[0].rsplit("layer", 1)[-1]))
    raise ValueError(f"cannot find the encoder layers of {type(model).__name__}: no module "
                     f"list named one of {LAYER_SUFFIXES} and no layer1, layer2, ... children")


def parameter_depths(model: nn.Module) -> tuple[dict[str, int], int]:
    """Place every parameter on the model's depth axis.

    Args:
        model: A classifier with findable encoder layers.

    Returns:
        ``(depths, num_layers)``: ``depths[name]`` is 0 for the embeddings/stem,
        ``i`` for encoder layer ``i`` (1-based) and ``num_layers + 1`` for
        everything above the layers (pooler, final norm, head).
    """
    layers = find_encoder_layers(model)
    prefixes = [name + "." for name, _ in layers]
    try:
        head_prefix: str | None = find_head(model)[0] + "."
    except ValueError:
        head_prefix = None
    depths: dict[str, int] = {}
    seen_layer = False
    for name, _ in model.named_parameters():
        index = next((i for i, p in enumerate(prefixes) if name.startswith(p)), None)
        if head_prefix is not None and name.startswith(head_prefix):
            depths[name] = len(layers) + 1  # the head is on top wherever it was registered
        elif index is not None:
            seen_layer = True
            depths[name] = index + 1
        else:
            # Registration order tells what feeds the layers from what they feed.
            depths[name] = len(layers) + 1 if seen_layer else 0
    return depths, len(layers)


def apply_strategy(model: nn.Module, strategy: str, *, freeze_layers: int | None = None,
                   lora: LoraSettings | None = None) -> nn.Module:
    """Set which parameters train, and wrap the model for LoRA.

    Args:
        model: A ``transformers`` classifier or a torch CNN, changed in place.
        strategy: One of :data:`STRATEGIES`.
        freeze_layers: For ``freeze_bottom``, how many bottom layers to freeze
            (0 freezes only the embeddings); ignored otherwise.
        lora: For ``lora``, the adapter settings (defaults when ``None``);
            ignored otherwise.

    Returns:
        The model (a ``peft.PeftModel`` for ``lora``).

    Raises:
        ValueError: For an unknown strategy, a bad ``freeze_layers``, or a model
            whose head or layers cannot be found.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "full":
        model.requires_grad_(True)
        return model
    if strategy == "linear_probe":
        _, head = find_head(model)
        model.requires_grad_(False)
        head.requires_grad_(True)
        return model
    if strategy == "freeze_bottom":
        depths, num_layers = parameter_depths(model)
        if isinstance(freeze_layers, bool) or not isinstance(freeze_layers, int) or not (
                0 <= freeze_layers <= num_layers):
            raise ValueError(f"freeze_layers must be an int in [0, {num_layers}] for "
                             f"{type(model).__name__}, got {freeze_layers!r}")
        for name, param in model.named_parameters():
            param.requires_grad_(depths[name] > freeze_layers)
        return model
    return _apply_lora(model, lora or LoraSettings())


def default_lora_targets(model: nn.Module) -> tuple[str, ...]:
    """Leaf names LoRA adapts when none are given.

    The attention query/value projections when the layers have them (the
    original LoRA recipe), else every ``Linear``/``Conv2d`` inside the layers.
    """
    leaves = {name.rsplit(".", 1)[-1]: module
              for _, layer in find_encoder_layers(model)
              for name, module in layer.named_modules() if name}
    for family in ATTENTION_TARGETS:
        if all(isinstance(leaves.get(n), nn.Linear) for n in family):
            return family
    fallback = sorted(n for n, m in leaves.items()
                      if isinstance(m, (nn.Linear, nn.Conv2d)) and not n.isdigit())
    if not fallback:
        raise ValueError(f"cannot choose LoRA target modules for {type(model).__name__}; "
                         f"pass LoraSettings(target_modules=...)")
    return tuple(fallback)


def _apply_lora(model: nn.Module, settings: LoraSettings) -> nn.Module:
    from peft import LoraConfig, get_peft_model  # heavy; only LoRA trials need it

    head_name, _ = find_head(model)
    targets = settings.target_modules or default_lora_targets(model)
    # peft annotates lora_alpha as int but only ever divides it by r, so a
    # sampled float alpha is fine.
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha,  # type: ignore[arg-type]
                        lora_dropout=settings.dropout, target_modules=list(targets),
                        modules_to_save=[head_name])
    peft_model = get_peft_model(model, config)
    # peft keeps the trainable copy of the head; make sure it is the only
    # non-adapter part that trains, whatever the model's flags were before.
    for name, param in peft_model.named_parameters():
        param.requires_grad_("lora_" in name or ".modules_to_save." in name)
    return peft_model
