"""Gain per second for `GrowOracle` (pure numpy/scipy).

The acquisition of a candidate x is

    a(x) = EI(x) / c(x),
    EI(x) = (mu(x) - y+) Phi(z) + sigma(x) phi(z),   z = (mu(x) - y+) / sigma(x),
    c(x)  = rho(x) * max(alpha + beta * P(x), c_min),

with mu, sigma the GP posterior of the (maximised) objective, y+ the best observed value
(Mockus 1978; Jones et al. 1998 for EI), P(x) the parameter count, alpha, beta >= 0 a
least-squares line of measured trial seconds against P, and rho(x) the warm-cost ratio
for a child grown from a trained parent, 1 for a cold candidate. Dividing by the cost
follows Snoek et al. (2012)'s expected improvement per second.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def expected_improvement(mean, std, best: float) -> np.ndarray:
    """EI for maximisation.

    Args:
        mean: array (n,), posterior means. std: array (n,), posterior standard deviations.
        best: the best observed value y+.

    Returns:
        Array (n,) of non-negative expected improvements.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)
    gap = mean - best
    z = gap / std
    return np.maximum(gap * stats.norm.cdf(z) + std * stats.norm.pdf(z), 0.0)


def fit_cost_line(parameters, seconds) -> tuple[float, float]:
    """seconds ~ alpha + beta * parameters, with alpha, beta >= 0.

    NOTE: a search has a handful of cold trials; a line is the simplest model that
    makes a larger network cost more, and the non-negativity keeps timing noise from
    making large networks look cheaper. With fewer than two distinct parameter counts
    the cost is the mean duration (a constant: the acquisition is then plain EI).

    Args:
        parameters: array (n,) of parameter counts. seconds: array (n,) of durations.

    Returns:
        (alpha, beta). (1.0, 0.0) when there is no data.
    """
    parameters = np.asarray(parameters, dtype=float)
    seconds = np.asarray(seconds, dtype=float)
    if len(seconds) == 0:
        return 1.0, 0.0
    mean = float(np.mean(seconds))
    if len(seconds) < 2 or np.ptp(parameters) == 0:
        return max(mean, 1e-9), 0.0
    beta, alpha = np.polyfit(parameters, seconds, 1)
    if beta <= 0:
        return max(mean, 1e-9), 0.0
    if alpha < 0:
        # Through the origin instead: seconds = beta * P.
        beta = float(np.dot(parameters, seconds) / np.dot(parameters, parameters))
        alpha = 0.0
    return float(alpha), float(beta)


def predicted_cost(parameters, alpha: float, beta: float, ratio) -> np.ndarray:
    """c(x) = ratio * max(alpha + beta * P, c_min), c_min a millionth of the largest."""
    line = alpha + beta * np.asarray(parameters, dtype=float)
    floor = 1e-6 * max(float(np.max(line)) if line.size else 1.0, 1e-12)
    return np.asarray(ratio, dtype=float) * np.maximum(line, floor)
