"""Data sets for the built-in trainables, loaded through the ``datasets`` library."""

from __future__ import annotations

from hpo.data._text import TextData, load_text_data

__all__ = ["TextData", "load_text_data"]
