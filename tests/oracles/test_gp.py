"""The GP surrogate: ML-II fit, latent predictions, warm starts."""

import numpy as np

from kt_nasrepair.oracles._gp import GaussianProcessSurrogate
from kt_nasrepair.oracles._gp import make_kernel


def test_interpolates_a_smooth_function():
    x = np.linspace(0, 1, 12)[:, None]
    y = np.sin(6 * x[:, 0])
    gp = GaussianProcessSurrogate(seed=0).fit(x, y)
    x_test = np.array([[0.21], [0.57]])
    mean, std = gp.predict(x_test)
    np.testing.assert_allclose(mean, np.sin(6 * x_test[:, 0]), atol=0.02)
    assert np.all(std < 0.05)


def test_uncertainty_grows_away_from_data():
    x = np.random.default_rng(0).uniform(0.0, 0.3, size=(10, 2))
    y = np.sin(8 * x[:, 0]) + np.cos(6 * x[:, 1])
    gp = GaussianProcessSurrogate(seed=0).fit(x, y)
    _, std = gp.predict(np.array([[0.15, 0.15], [0.9, 0.9]]))
    assert std[1] > 2 * std[0]


def test_learns_noise_and_removes_it_from_predictions():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(60, 1))
    y = x[:, 0] + rng.normal(scale=0.1, size=60)
    gp = GaussianProcessSurrogate(seed=0).fit(x, y)
    np.testing.assert_allclose(gp.noise_variance, 0.01, rtol=0.6)
    _, std = gp.predict(np.array([[0.5]]))
    # The latent std at a well-sampled point is well below the noise sd.
    assert std[0] < 0.06


def test_ard_length_scales_find_the_irrelevant_feature():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(30, 2))
    y = np.sin(5 * x[:, 0])
    gp = GaussianProcessSurrogate(seed=0).fit(x, y)
    length_scales = np.exp(gp.theta[1:3])
    assert length_scales[1] > 5 * length_scales[0]


def test_warm_start_and_fixed_hyperparameters():
    x = np.linspace(0, 1, 8)[:, None]
    y = x[:, 0] ** 2
    first = GaussianProcessSurrogate(seed=0).fit(x, y)
    fixed = GaussianProcessSurrogate(seed=0).fit(x, y, theta=first.theta, optimize=False)
    np.testing.assert_allclose(fixed.theta, first.theta, rtol=1e-12)
    # A theta of the wrong length (the space grew) is ignored.
    kernel = make_kernel(3, theta=first.theta)
    assert len(kernel.theta) == 5


def test_fantasies_collapse_the_variance_and_keep_the_hyperparameters():
    # Kriging believer: a pending point observed at its own predicted mean.
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(12, 2)) * 0.5  # the pending point lies far from the data
    y = np.sin(6 * x[:, 0]) + x[:, 1]
    gp = GaussianProcessSurrogate(seed=0).fit(x, y)
    pending = np.array([[1.0, 1.0]])
    believer = gp.with_fantasies(pending)
    np.testing.assert_allclose(believer.theta, gp.theta)
    np.testing.assert_allclose(believer.predict(pending)[0], gp.predict(pending)[0], atol=1e-6)
    assert believer.predict(pending)[1][0] < 0.1 * gp.predict(pending)[1][0]
    np.testing.assert_allclose(believer.predict(x)[0], gp.predict(x)[0], atol=1e-3)
