"""Mean, spread and 95 % interval of one config's scores over seeds, and the pick.

A config's score over S seeds is summarised by its mean and Student's t interval
(S - 1 degrees of freedom). The pick is by mean (the best expected score) or by the
interval's lower bound (the config least likely to disappoint, which penalises a
config whose seeds disagree). The t quantiles are tabulated here because scipy is
not a dependency; beyond 30 degrees of freedom a Cornish-Fisher expansion of the
normal quantile is accurate to 1e-4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PICKS = ("mean", "lower")

# Two-sided 95 % quantiles of Student's t, t_{0.975, df} for df = 1..30.
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
         2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
         2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)
_Z975 = 1.959964


def t975(df: int) -> float:
    """Student's t quantile for a two-sided 95 % interval with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df!r}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


@dataclass(frozen=True)
class Interval:
    """Scores of one config over seeds, summarised.

    Attributes:
        n: number of finite scores.
        mean: their mean.
        std: sample standard deviation (0 for one score).
        low, high: the 95 % t interval of the mean (equal to the mean for one score).
    """

    n: int
    mean: float
    std: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def summarise(scores: Sequence[float]) -> Interval:
    """Mean, spread and 95 % interval of ``scores`` (NaN and inf are left out).

    Raises:
        ValueError: no finite score.
    """
    finite = [float(s) for s in scores if math.isfinite(float(s))]
    if not finite:
        raise ValueError(f"no finite score among {list(scores)!r}")
    n = len(finite)
    mean = sum(finite) / n
    if n == 1:
        return Interval(1, mean, 0.0, mean, mean)
    std = math.sqrt(sum((s - mean) ** 2 for s in finite) / (n - 1))
    half = t975(n - 1) * std / math.sqrt(n)
    return Interval(n, mean, std, mean - half, mean + half)


def pick_key(interval: Interval, by: str, sign: float) -> float:
    """What ``by`` ranks a candidate on, larger is better (``sign`` -1 for minimised scores).

    ``lower`` means the pessimistic end of the interval: its lower bound when the
    score is maximised, its upper bound when it is minimised.
    """
    if by not in PICKS:
        raise ValueError(f"pick: choose one of {', '.join(PICKS)}, got {by!r}")
    if by == "mean":
        return sign * interval.mean
    return sign * (interval.low if sign > 0 else interval.high)
