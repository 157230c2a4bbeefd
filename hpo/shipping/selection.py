"""The selection split: what finalists are scored on, never what the search ranked on.

The search ranks trials on the validation split, so a search's best validation
score is optimistic (it was selected for being high). ``hpo finalize`` scores the
finalists on a selection split instead, carved reproducibly from the training data
(:func:`hpo.data._splits.make_splits`, ``selection_size``) or given as a file of the
same kind as the data (``selection_source``). The test split stays untouched.
"""

from __future__ import annotations

from typing import Any

#: Built-in trainables whose data sections know ``selection_size``.
SUPPORTS_SELECTION = ("text_classification", "image_classification")


def default_selection_size(data_identity: dict[str, Any]) -> int | None:
    """As many examples as the validation split the search ranked on (same noise level),
    at most half the training split; None when the sizes are not recorded."""
    sizes = data_identity.get("sizes") or {}
    validation, train = sizes.get("validation"), sizes.get("train")
    if not isinstance(validation, int) or not isinstance(train, int):
        return None
    return max(2, min(validation, train // 2))


def selection_data(trainable: str, data: dict[str, Any], *, size: int | float | None,
                   source: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The data section finalize re-runs use, and a description of the selection split.

    Returns:
        ``(data, selection)``: ``data`` with the selection keys added (unchanged for a
        trainable without selection support), and ``{"kind", "size", "source"}``
        where ``kind`` is ``carved``, ``given`` or ``none``.

    Raises:
        ValueError: a selection split asked of a trainable that cannot make one.
    """
    if trainable not in SUPPORTS_SELECTION:
        if size is not None or source is not None:
            raise ValueError(f"selection split: the {trainable!r} trainable has no data "
                             f"section to carve one from (only {', '.join(SUPPORTS_SELECTION)})")
        return dict(data), {"kind": "none", "size": None, "source": None,
                            "note": "scored on what the trainable reports"}
    out = {k: v for k, v in data.items() if k not in ("selection_size", "selection_source")}
    if source is not None:
        out["selection_source"] = source
        return out, {"kind": "given", "size": None, "source": source}
    if size is None:
        raise ValueError("selection split: no size known; give --selection-size N")
    out["selection_size"] = size
    return out, {"kind": "carved", "size": size, "source": None}
