"""MES acquisition math against independent computations."""

import numpy as np
import pytest
from scipy import integrate
from scipy import stats

from kt_nasrepair.oracles import _mes


def entropy_reduction_by_quadrature(mean, std, max_value):
    """H[N(mean, std^2)] - H[N(mean, std^2) truncated above at max_value]."""
    prior = 0.5 * np.log(2 * np.pi * np.e * std**2)
    mass = stats.norm.cdf(max_value, mean, std)

    def integrand(f):
        density = stats.norm.pdf(f, mean, std) / mass
        return -density * np.log(density) if density > 0 else 0.0

    truncated, _ = integrate.quad(integrand, mean - 12 * std, max_value, limit=200)
    return prior - truncated


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mes_matches_quadrature_on_1d(dtype):
    mean = np.array([0.0, 0.4, -1.0, 1.3], dtype=dtype)
    std = np.array([1.0, 0.3, 2.0, 0.5], dtype=dtype)
    max_values = np.array([0.5, 1.5, 2.0], dtype=dtype)
    expected = [
        np.mean([entropy_reduction_by_quadrature(float(m), float(s), float(y)) for y in max_values])
        for m, s in zip(mean, std)
    ]
    rtol = 1e-5 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(_mes.mes_acquisition(mean, std, max_values), expected, rtol=rtol)


def test_mes_is_large_where_the_maximum_may_be():
    mean = np.array([0.0, 0.0, 0.9])
    std = np.array([0.01, 1.0, 0.2])
    gain = _mes.mes_acquisition(mean, std, np.array([1.0]))
    assert gain[0] < 1e-6 < gain[1]
    assert gain[2] > gain[1]


def test_gumbel_samples_fit_the_max_of_one_normal():
    # With one point, Pr[y* < y] = Phi((y - m)/s): the fitted Gumbel's median
    # and spread match the normal's.
    rng = np.random.default_rng(0)
    samples = _mes.gumbel_max_value_samples(
        np.array([2.0]), np.array([0.5]), 2000, rng, floor=-np.inf
    )
    # The Gumbel is fitted to the median and the interquartile range.
    q25, q50, q75 = np.quantile(samples, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(q50, 2.0, atol=0.01)
    np.testing.assert_allclose(q75 - q25, 0.5 * (stats.norm.ppf(0.75) - stats.norm.ppf(0.25)), rtol=0.02)


def test_gumbel_samples_are_floored():
    rng = np.random.default_rng(1)
    samples = _mes.gumbel_max_value_samples(
        np.zeros(50), np.full(50, 0.1), 10, rng, floor=5.0
    )
    np.testing.assert_array_equal(samples, np.full(10, 5.0))


def test_gumbel_max_grows_with_the_number_of_points():
    rng = np.random.default_rng(2)
    few = _mes.gumbel_max_value_samples(np.zeros(2), np.ones(2), 500, rng, -np.inf)
    many = _mes.gumbel_max_value_samples(np.zeros(200), np.ones(200), 500, rng, -np.inf)
    # Expected max of n standard normals: ~0.56 for n=2, ~2.75 for n=200.
    np.testing.assert_allclose(np.median(few), stats.norm.ppf(0.5 ** 0.5), atol=0.05)
    np.testing.assert_allclose(np.median(many), stats.norm.ppf(0.5 ** (1 / 200)), atol=0.05)
