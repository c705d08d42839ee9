"""The few classical statistics ``peekr compare`` needs, in pure Python (no numpy/scipy).

* Mann–Whitney U (two-sided; normal approximation with tie and continuity correction) for
  skewed per-call values: latency, cost, tokens, eval scores.
* Two-proportion z-test (pooled) for rates, switching to Fisher's exact test when an expected
  cell count is below 5.
* Confidence intervals: mean ± 1.96·s/√n, distribution-free order-statistic intervals for
  percentiles, Wilson intervals for proportions.
* Holm's step-down adjustment when several variants are compared with one control.

Everything is O(n log n) at most, so a million calls compare in seconds. The normal
approximations need a few dozen observations per variant; ``peekr compare`` warns below that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "fisher_exact",
    "holm",
    "mann_whitney",
    "mean_ci",
    "quantile",
    "quantile_ci",
    "two_proportions",
    "wilson",
]

_Z = 1.959963984540054  # two-sided 95 %


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Two-sided p-value of the Mann–Whitney U test; ``None`` when a sample is empty."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return None
    pooled = sorted([*x, *y])
    n = n1 + n2
    ranks: dict[float, float] = {}  # value -> average rank of its tied block (1-based)
    tie_term = 0.0
    i = 0
    while i < n:
        j = i
        value = pooled[i]
        while j + 1 < n and pooled[j + 1] == value:
            j += 1
        ranks[value] = (i + j) / 2 + 1
        t = j - i + 1
        if t > 1:
            tie_term += t**3 - t
        i = j + 1
    u = math.fsum(ranks[v] for v in x) - n1 * (n1 + 1) / 2
    mu = n1 * n2 / 2
    var = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:  # every value identical
        return 1.0
    z = (abs(u - mu) - 0.5) / math.sqrt(var)
    return min(1.0, 2 * _norm_sf(max(z, 0.0)))


def _log_hypergeom(a: int, row1: int, col1: int, n: int) -> float:
    def lc(k: int, r: int) -> float:
        return math.lgamma(k + 1) - math.lgamma(r + 1) - math.lgamma(k - r + 1)

    return lc(row1, a) + lc(n - row1, col1 - a) - lc(n, col1)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test for the table ``[[a, b], [c, d]]``."""
    row1, col1, n = a + b, a + c, a + b + c + d
    lo, hi = max(0, col1 - (n - row1)), min(row1, col1)
    observed = _log_hypergeom(a, row1, col1, n)
    total = 0.0
    for k in range(lo, hi + 1):
        logp = _log_hypergeom(k, row1, col1, n)
        if logp <= observed + 1e-7:
            total += math.exp(logp)
    return min(1.0, total)


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> tuple[float | None, str]:
    """Two-sided p-value that two rates differ, and the test used; ``None`` when a group is empty."""
    if n1 == 0 or n2 == 0:
        return None, "two-proportion z"
    pooled = (k1 + k2) / (n1 + n2)
    expected = min(n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    if expected < 5:
        return fisher_exact(k1, n1 - k1, k2, n2 - k2), "Fisher exact"
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = abs(k1 / n1 - k2 / n2) / se
    return min(1.0, 2 * _norm_sf(z)), "two-proportion z"


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k/n`` (``n > 0``)."""
    p = k / n
    denom = 1 + _Z**2 / n
    centre = (p + _Z**2 / (2 * n)) / denom
    half = _Z * math.sqrt(p * (1 - p) / n + _Z**2 / (4 * n * n)) / denom
    # At k = 0 or k = n the bound is exactly 0 or 1; rounding would leave it a hair inside.
    return 0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half)


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and its 95 % interval (normal approximation); the interval is the mean itself for n < 2."""
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return mean, mean, mean
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = _Z * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values (linear interpolation, like numpy's default)."""
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def quantile_ci(ordered: Sequence[float], q: float) -> tuple[float, float]:
    """Distribution-free 95 % interval of the ``q`` quantile from order statistics."""
    n = len(ordered)
    half = _Z * math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(n * q - half) - 1)
    hi = min(n - 1, math.ceil(n * q + half))
    return ordered[lo], ordered[hi]


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni adjusted p-values (``None`` stays ``None`` and does not count)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
