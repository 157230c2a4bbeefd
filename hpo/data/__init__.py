"""Data sets for the built-in trainables, loaded through the ``datasets`` library."""

from __future__ import annotations

from hpo.data._image import ImageData, load_image_data
from hpo.data._text import TextData, load_text_data

__all__ = ["ImageData", "TextData", "load_image_data", "load_text_data"]
