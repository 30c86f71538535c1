"""Max-value Entropy Search acquisition (pure numpy/scipy).

Reference: Wang, Z. & Jegelka, S. (2017). Max-value Entropy Search for Efficient Bayesian
Optimization. ICML. arXiv:1703.01968.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy import special
from scipy import stats

_QUARTILES = np.array([0.25, 0.5, 0.75])


def gumbel_max_value_samples(mean, std, num_samples, rng, floor):
    """K = `num_samples` samples (K,) of the maximum y* by the Gumbel approximation.

    Pr[y* < y] = prod_i Phi((y - mean_i) / std_i) over the points with posterior `mean`, `std`
    (n,) (Wang & Jegelka 2017, sec. 3.1, eq. 7) is fitted by a Gumbel through its quartiles;
    samples are raised to at least `floor` (the authors' code sets them to epsilon).
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
    """Max-value entropy search acquisition (n,), in nats, of the posterior `mean`, `std` (n,).

    alpha(x) = 1/K sum_k [gamma psi(gamma) / (2 Psi(gamma)) - log Psi(gamma)],
    gamma = (y*_k - mean(x)) / std(x), over the K `max_values` (Wang & Jegelka 2017, eq. 6).
    """
    mean = np.asarray(mean, dtype=float)[:, None]
    std = np.maximum(np.asarray(std, dtype=float), 1e-12)[:, None]
    gamma = (np.asarray(max_values, dtype=float)[None, :] - mean) / std
    log_cdf = special.log_ndtr(gamma)
    # psi / Psi computed in log space: Psi underflows for gamma << 0.
    ratio = np.exp(stats.norm.logpdf(gamma) - log_cdf)
    return np.maximum(np.mean(0.5 * gamma * ratio - log_cdf, axis=1), 0.0)
