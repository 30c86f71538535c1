"""Max-value Entropy Search acquisition (pure numpy/scipy).

References:
    Wang, Z. & Jegelka, S. (2017). Max-value Entropy Search for Efficient
    Bayesian Optimization. ICML. arXiv:1703.01968.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy import special
from scipy import stats

_QUARTILES = (0.25, 0.5, 0.75)


def gumbel_max_value_samples(mean, std, num_samples, rng, floor):
    """Samples of the maximum value y* by the Gumbel approximation.

    Approximates Pr[y* < y] = prod_i Phi((y - mean_i) / std_i) over a set of
    points (Wang & Jegelka 2017, sec. 3.1, eq. 7), fits a Gumbel distribution
    to its quartiles, and draws y* = a - b log(-log u).

    Args:
        mean: array (n,), posterior means on the points.
        std: array (n,), posterior standard deviations (> 0).
        num_samples: K, number of samples.
        rng: a `numpy.random.Generator`.
        floor: samples are raised to at least this value (the best observed
            value plus a small epsilon: the maximum cannot be below what was
            seen. The authors' code sets them to epsilon instead.)

    Returns:
        Array (K,) of samples.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)

    def log_cdf(y):
        return np.sum(special.log_ndtr((y - mean) / std))

    scale = float(np.max(std))
    upper = float(np.max(mean + 6 * std))
    lower = float(np.max(mean))
    while log_cdf(lower) > np.log(_QUARTILES[0]):
        lower -= scale
    quantiles = [
        optimize.brentq(lambda y, q=q: log_cdf(y) - np.log(q), lower, upper)
        for q in _QUARTILES
    ]
    log_log = [np.log(-np.log(q)) for q in _QUARTILES]
    scale_b = (quantiles[0] - quantiles[2]) / (log_log[2] - log_log[0])
    loc_a = quantiles[1] + scale_b * log_log[1]
    # NOTE: stratified uniforms give a low-variance estimate with small K.
    uniforms = (np.arange(num_samples) + rng.uniform(size=num_samples)) / num_samples
    uniforms = np.clip(uniforms, 1e-12, 1 - 1e-12)
    samples = loc_a - scale_b * np.log(-np.log(uniforms))
    return np.maximum(samples, floor)


def mes_acquisition(mean, std, max_values):
    """Max-value entropy search acquisition for maximisation.

    alpha(x) = 1/K sum_k [gamma psi(gamma) / (2 Psi(gamma)) - log Psi(gamma)],
    gamma = (y*_k - mean(x)) / std(x) (Wang & Jegelka 2017, eq. 6): the
    expected reduction of the entropy of f(x) once f(x) < y* is known.

    Args:
        mean: array (n,), posterior means.
        std: array (n,), posterior standard deviations.
        max_values: array (K,), samples of y*.

    Returns:
        Array (n,) of non-negative information gains (nats).
    """
    mean = np.asarray(mean, dtype=float)[:, None]
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)[:, None]
    gamma = (np.asarray(max_values, dtype=float)[None, :] - mean) / std
    log_cdf = special.log_ndtr(gamma)
    # psi / Psi computed in log space: Psi underflows for gamma << 0.
    ratio = np.exp(stats.norm.logpdf(gamma) - log_cdf)
    gain = 0.5 * gamma * ratio - log_cdf
    return np.maximum(np.mean(gain, axis=1), 0.0)
