"""Whether the best config sits at the edge of a searched range, and how to widen it.

A best value within a few per cent of a bound (in log space for log ranges) says the
optimum may lie outside the range the space allowed. ``hpo show``, ``hpo best`` and the
end of ``hpo run`` say so, with a wider range to continue the search in
(``hpo run SPACE --widen STUDY``, see :mod:`hpo.shipping.widen`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hpo.results._store import TrialRecord

# How close to a bound counts as "at the edge": a fraction of the range's width.
EDGE_MARGIN = 0.05


@dataclass(frozen=True)
class RangeEdge:
    """One numeric parameter of a trial whose value sits near a bound of its range."""

    param: str
    value: float
    low: float
    high: float
    log: bool
    integer: bool
    side: str  # "low" or "high"
    position: float  # where the value sits in the range, 0 (low) to 1 (high)

    @property
    def widened(self) -> tuple[float, float] | None:
        """The range grown by half its width past the near bound (in log space for log
        ranges); None when that bound is 0 of a non-negative linear range, which usually
        is a natural limit (no dropout, no weight decay) rather than a choice."""
        low, high = self.low, self.high
        if self.log:
            factor = math.sqrt(high / low)  # half the width, in log space
            low, high = (low / factor, high) if self.side == "low" else (low, high * factor)
        else:
            span = (high - low) / 2
            if self.side == "low":
                if low == 0 and high > 0:
                    return None
                low = max(0.0, low - span) if low > 0 else low - span
            else:
                high = high + span
        if self.integer:
            low, high = math.floor(low), math.ceil(high)
        return low, high

    def message(self) -> str:
        """One line: the value, where it sits, and the range to try next."""
        share = self.position if self.side == "low" else 1 - self.position
        where = (f"at the {'lower' if self.side == 'low' else 'upper'} bound" if share < 0.005
                 else f"in the {'bottom' if self.side == 'low' else 'top'} "
                      f"{max(share, 0.0) * 100:.0f} %")
        text = (f"{self.param}={bound_text(self.value)} sits {where} of its range "
                f"[{bound_text(self.low)}, {bound_text(self.high)}]{' (log)' if self.log else ''}")
        wide = self.widened
        if wide is None:
            return text + "; the bound is 0, a natural limit, so the range is left as it is"
        return (text + f": the optimum may lie outside it; try [{bound_text(wide[0])}, "
                       f"{bound_text(wide[1])}]")


def range_edges(rec: TrialRecord, margin: float = EDGE_MARGIN) -> list[RangeEdge]:
    """The trial's numeric parameters whose value is within ``margin`` of a bound of the
    range it was sampled from (categorical and one-value ranges never are)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    out = []
    for name, dist in rec.distributions.items():
        if not isinstance(dist, (FloatDistribution, IntDistribution)):
            continue
        value = rec.params.get(name)
        if not isinstance(value, (int, float)) or dist.high <= dist.low:
            continue
        low, high, v = float(dist.low), float(dist.high), float(value)
        if dist.log:
            pos = (math.log(v) - math.log(low)) / (math.log(high) - math.log(low))
        else:
            pos = (v - low) / (high - low)
        side = "low" if pos <= margin else "high" if pos >= 1 - margin else None
        if side is not None:
            out.append(RangeEdge(name, v, low, high, bool(dist.log),
                                 isinstance(dist, IntDistribution), side, pos))
    return out


def edge_lines(rec: TrialRecord | None, study: str | None = None) -> list[str]:
    """What to print about ``rec``'s edges (nothing when there are none); ``study`` names
    the study in the command that searches on."""
    if rec is None:
        return []
    edges = range_edges(rec)
    if not edges:
        return []
    lines = [f"best trial {rec.number} sits at the edge of its search range:"]
    lines += [f"  {e.message()}" for e in edges]
    if any(e.widened is not None for e in edges):
        lines.append(f"  to search further: hpo run <space file> --widen {study or '<study>'}"
                     " (a new study in the widened ranges, starting from this one's trials)")
    return lines


def bound_text(x: Any) -> str:
    """A range bound or value as the edge lines print it (4 significant digits)."""
    return f"{x:.4g}" if isinstance(x, float) and not float(x).is_integer() else f"{x:g}"
