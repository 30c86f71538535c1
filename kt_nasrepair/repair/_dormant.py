"""Pure numpy math for dormant-unit recycling (ReDo).

References:
    Sokar, Agarwal, Castro & Evci, "The Dormant Neuron Phenomenon in Deep
    Reinforcement Learning", ICML 2023 (arXiv 2302.12902), Section 3 (Eq. 1,
    the tau-dormant score) and Algorithm 1 (ReDo: re-initialise incoming
    weights, zero outgoing weights).
"""

from __future__ import annotations

import numpy as np

# NOTE: guards the 0/0 of a layer whose units are all silent; with it every
# score of such a layer is 0, so the whole layer counts as dormant.
_SCORE_EPSILON = 1e-12


def dormant_scores(activations: np.ndarray) -> np.ndarray:
    """Normalised activity score of every unit of one layer (ReDo, Eq. 1).

    `s_i = E_x |h_i(x)| / ((1/H) sum_j E_x |h_j(x)|)`: the mean absolute
    activation of unit `i` over the probe batch divided by the layer's mean of
    the same quantity. A unit with `s_i <= tau` is "tau-dormant".

    Args:
        activations: array of shape `(..., units)`; every axis but the last is
            averaged over (batch, and time steps for sequence inputs).

    Returns:
        Float64 array of shape `(units,)`, non-negative, with mean 1 unless
        the whole layer is silent (then all zeros).
    """
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim < 2:
        raise ValueError(
            "`activations` must have shape (batch, ..., units). "
            f"Received: activations.shape={activations.shape}"
        )
    per_unit = np.abs(activations).reshape(-1, activations.shape[-1]).mean(axis=0)
    return per_unit / (per_unit.mean() + _SCORE_EPSILON)


def recycle_units(
    kernel: np.ndarray,
    bias: np.ndarray | None,
    next_kernel: np.ndarray,
    dormant: np.ndarray,
    fresh_kernel: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Re-initialise dormant units of `kernel` and silence their outgoing rows.

    Dormant unit `i` gets the fresh incoming column `fresh_kernel[:, i]`, bias
    0, and its row of `next_kernel` set to 0 (ReDo, Algorithm 1). As the next
    layer ignores the unit, the network's function is unchanged at the moment
    of repair, while gradients reach the fresh incoming weights again through
    the outgoing weights as soon as those move away from zero.

    Args:
        kernel: `(fan_in, units)` incoming kernel.
        bias: `(units,)` bias, or `None` for a layer without bias.
        next_kernel: `(units, next_units)` kernel of the consuming Dense.
        dormant: boolean mask of shape `(units,)`.
        fresh_kernel: `(fan_in, units)` draw from the layer's initializer.

    Returns:
        `(kernel, bias, next_kernel)`: new arrays; the inputs are not changed.
    """
    dormant = np.asarray(dormant, dtype=bool)
    units = kernel.shape[-1]
    if dormant.shape != (units,) or next_kernel.shape[0] != units:
        raise ValueError(
            "`dormant` must have one entry per unit and `next_kernel` one row "
            f"per unit. Received: dormant.shape={dormant.shape}, "
            f"kernel.shape={kernel.shape}, next_kernel.shape={next_kernel.shape}"
        )
    kernel = np.array(kernel, copy=True)
    next_kernel = np.array(next_kernel, copy=True)
    kernel[..., dormant] = np.asarray(fresh_kernel)[..., dormant]
    next_kernel[dormant, ...] = 0.0
    if bias is not None:
        bias = np.array(bias, copy=True)
        bias[dormant] = 0.0
    return kernel, bias, next_kernel
