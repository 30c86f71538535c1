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

_QUARTILES = np.array([0.25, 0.5, 0.75])


def gumbel_max_value_samples(mean, std, num_samples, rng, floor):
    """Samples of the maximum value y* by the Gumbel approximation.

    Pr[y* < y] = prod_i Phi((y - mean_i) / std_i) over a set of points (Wang & Jegelka 2017,
    sec. 3.1, eq. 7) is fitted by a Gumbel distribution through its quartiles.

    Args:
        mean, std: arrays (n,), the posterior on the points (std > 0).
        num_samples: K, number of samples.
        rng: a `numpy.random.Generator`.
        floor: samples are raised to at least this value (the best observed value plus a small
            epsilon: y* is not below what was seen; the authors' code sets them to epsilon).

    Returns:
        Array (K,) of samples.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)

    def log_cdf(y):
        return np.sum(special.log_ndtr((y - mean) / std))

    upper, lower = float(np.max(mean + 6 * std)), float(np.max(mean))
    while log_cdf(lower) > np.log(_QUARTILES[0]):
        lower -= float(np.max(std))
    quantiles = [optimize.brentq(lambda y, q=q: log_cdf(y) - np.log(q), lower, upper)
                 for q in _QUARTILES]
    # Gumbel quantiles are a - b log(-log q): two quartiles give b, the median a.
    log_log = np.log(-np.log(_QUARTILES))
    scale = (quantiles[0] - quantiles[2]) / (log_log[2] - log_log[0])
    loc = quantiles[1] + scale * log_log[1]
    # NOTE: stratified uniforms give a low-variance estimate with small K.
    uniforms = (np.arange(num_samples) + rng.uniform(size=num_samples)) / num_samples
    samples = stats.gumbel_r.ppf(np.clip(uniforms, 1e-12, 1 - 1e-12), loc=loc, scale=scale)
    return np.maximum(samples, floor)


def mes_acquisition(mean, std, max_values):
    """Max-value entropy search acquisition for maximisation.

    alpha(x) = 1/K sum_k [gamma psi(gamma) / (2 Psi(gamma)) - log Psi(gamma)],
    gamma = (y*_k - mean(x)) / std(x) (Wang & Jegelka 2017, eq. 6): the expected reduction of
    the entropy of f(x) once f(x) < y* is known.

    Args:
        mean, std: arrays (n,), the posterior.
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
    return np.maximum(np.mean(0.5 * gamma * ratio - log_cdf, axis=1), 0.0)
