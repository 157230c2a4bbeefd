"""The error raised for an invalid search-space file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a search-space file.

    Attributes:
        field: dotted path of the offending field, e.g. ``params.lr.low``.
        message: what is wrong, quoting the bad value.
    """

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class SpaceError(ValueError):
    """A search-space file is invalid; lists every problem found, with the file name."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{source}: invalid search space ({len(self.problems)} problem(s))"]
        lines += [f"  {source}: {p}" for p in self.problems]
        super().__init__("\n".join(lines))
