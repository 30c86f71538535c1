"""Pure numpy weight algebra of the Net2Net function-preserving transformations.

Everything here works on plain arrays, so it can be tested without Keras and behaves the
same on every Keras backend.

Notation (Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via Knowledge
Transfer", ICLR 2016, section 2.2): a layer of `n` units is widened to `q >= n` units by a
*random mapping* `g: {0..q-1} -> {0..n-1}` with `g(j) = j` for `j < n` and `g(j)` uniform
otherwise (their eq. 5-6). Unit `j` of the wide layer copies unit `g(j)`; the next layer's
incoming weights from unit `j` are divided by the *replication count* `|{x : g(x) = g(j)}|`
so that the sum over the copies reproduces the original contribution (eq. 6).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

# NOTE: noise is expressed relative to the standard deviation of the donor kernel that
# receives it (see `remap_dense`); 1e-2 is large enough to break the symmetry of copied
# units within a few SGD steps and, being zero-sum over the copies, never changes outputs.
DEFAULT_NOISE_STD = 1e-2


def random_mapping(n: int, q: int, rng: np.random.Generator) -> np.ndarray:
    """The Net2WiderNet random mapping `g` from `q` wide units onto `n` original units.

    Args:
        n: Original number of units, `n >= 1`.
        q: New number of units, `q >= n`.
        rng: A numpy random generator.

    Returns:
        An int64 array of length `q`: `g[j] = j` for `j < n`, uniform in `[0, n)` after.
    """
    if n < 1 or q < n:
        raise ValueError(f"A random mapping needs 1 <= n <= q. Received: n={n}, q={q}")
    extra = rng.integers(0, n, size=q - n) if q > n else np.empty(0, dtype=np.int64)
    return np.concatenate([np.arange(n, dtype=np.int64), extra.astype(np.int64)])


def identity_mapping(n: int) -> np.ndarray:
    """The mapping of a layer that is not widened."""
    return np.arange(n, dtype=np.int64)


def replication_counts(mapping: np.ndarray, n: int) -> np.ndarray:
    """How many wide units copy each of the `n` original units."""
    return np.bincount(mapping, minlength=n)


def zero_sum_noise(
    mapping: np.ndarray, columns: int, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Noise on the rows of a kernel that sums to zero over every group of copies.

    Rows `j` with the same `mapping[j]` receive the same input (copied units), so only the
    sum of their outgoing weights matters. Subtracting the group mean keeps that sum, hence
    the function, while giving each copy different outgoing weights: their gradients differ
    and the copies stop being identical after the first update (the symmetry breaking that
    Net2Net obtains with a small noise, section 2.2).

    The noise is uniform with standard deviation `scale` before centring.

    Args:
        mapping: The input mapping `g` of the kernel's rows (length `q`).
        columns: Number of kernel columns.
        scale: Standard deviation of the noise before centring.
        rng: A numpy random generator.

    Returns:
        A float32 `(q, columns)` array; rows of unreplicated units are exactly zero.
    """
    q = mapping.shape[0]
    noise = np.zeros((q, columns), dtype=np.float32)
    n = int(mapping.max()) + 1 if q else 0
    counts = replication_counts(mapping, n)
    copied = counts[mapping] > 1
    if scale <= 0 or not copied.any():
        return noise
    rows = np.flatnonzero(copied)
    # NOTE: uniform noise with the requested standard deviation: drawing it is several
    # times faster than Gaussian noise, and any zero-mean distribution breaks symmetry.
    block = rng.random((rows.size, columns), dtype=np.float32)
    block -= np.float32(0.5)
    block *= np.float32(scale * np.sqrt(12.0))
    groups = mapping[rows]
    # Group sums through a sparse one-hot product: ~20x faster than np.add.at here.
    one_hot = scipy.sparse.csr_matrix(
        (np.ones(rows.size, np.float32), (groups, np.arange(rows.size))),
        shape=(n, rows.size),
    )
    group_means = (one_hot @ block) / counts[:, None].astype(np.float32)
    block -= group_means[groups]
    noise[rows] = block
    return noise


def remap_dense(
    kernel: np.ndarray,
    bias: np.ndarray,
    in_mapping: np.ndarray,
    out_mapping: np.ndarray,
    *,
    noise_std: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rewrites a Dense layer for widened inputs and/or outputs (Net2WiderNet, eq. 6).

    `kernel[g_in[i], g_out[j]] / count_in[g_in[i]]` is the new weight from wide input `i` to
    wide output `j`, and the new bias of output `j` is `bias[g_out[j]]`. When the inputs
    are copies (`count_in > 1`), zero-sum noise of standard deviation
    `noise_std * std(kernel)` is added to their rows (see `zero_sum_noise`).

    Args:
        kernel: `(n_in, n_out)` kernel.
        bias: `(n_out,)` bias.
        in_mapping: Mapping of the wide inputs onto the `n_in` original inputs.
        out_mapping: Mapping of the wide outputs onto the `n_out` original outputs.
        noise_std: Noise relative to the kernel's standard deviation. 0 disables it.
        rng: Random generator, needed when `noise_std > 0`.

    Returns:
        `(kernel, bias)` of shapes `(len(in_mapping), len(out_mapping))` and
        `(len(out_mapping),)`, float32.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    n_in = kernel.shape[0]
    counts = replication_counts(in_mapping, n_in)
    # Two takes are faster than one np.ix_ gather; skip those that would copy unchanged.
    new_kernel = kernel
    if not _is_identity(in_mapping, n_in):
        new_kernel = new_kernel.take(in_mapping, axis=0)
    if not _is_identity(out_mapping, kernel.shape[1]):
        new_kernel = new_kernel.take(out_mapping, axis=1)
    if new_kernel is kernel:
        new_kernel = kernel.copy()
    if counts.max(initial=1) > 1:
        new_kernel /= counts[in_mapping][:, None].astype(np.float32)
        if noise_std > 0:
            if rng is None:
                raise ValueError("`rng` is required when `noise_std > 0`.")
            scale = float(noise_std) * float(np.std(kernel)) if kernel.size > 1 else 0.0
            scale = scale or float(noise_std) * float(np.abs(kernel).mean() or 1.0)
            new_kernel += zero_sum_noise(in_mapping, new_kernel.shape[1], scale, rng)
    return new_kernel, np.asarray(bias, dtype=np.float32)[out_mapping]


def _is_identity(mapping: np.ndarray, n: int) -> bool:
    return mapping.shape[0] == n and bool((mapping == np.arange(n)).all())


def identity_dense(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of an `n`-unit identity Dense layer (Net2DeeperNet, section 2.3)."""
    return np.eye(n, dtype=np.float32), np.zeros(n, dtype=np.float32)


def batchnorm_affine(
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    moving_mean: np.ndarray,
    moving_variance: np.ndarray,
    epsilon: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Inference-mode BatchNormalization as `x * scale + shift` (Ioffe & Szegedy, 2015, alg. 2).

    Computed in float64 so that folding it into a kernel adds no rounding of its own.
    """
    mean = np.asarray(moving_mean, dtype=np.float64)
    inv_std = 1.0 / np.sqrt(np.asarray(moving_variance, dtype=np.float64) + epsilon)
    scale = inv_std * (1.0 if gamma is None else np.asarray(gamma, dtype=np.float64))
    shift = (0.0 if beta is None else np.asarray(beta, dtype=np.float64)) - mean * scale
    return scale, shift


def fold_output_affine(kernel, bias, scale, shift):
    """`(x @ K + b) * scale + shift` as one Dense layer."""
    kernel = np.asarray(kernel, dtype=np.float64) * scale[None, :]
    bias = np.asarray(bias, dtype=np.float64) * scale + shift
    return kernel, bias


def fold_input_affine(kernel, bias, scale, shift):
    """`(x * scale + shift) @ K + b` as one Dense layer."""
    kernel64 = np.asarray(kernel, dtype=np.float64)
    return kernel64 * scale[:, None], np.asarray(bias, dtype=np.float64) + shift @ kernel64


def identity_batchnorm_moving_variance(units: int, epsilon: float) -> np.ndarray:
    """Moving variance that makes an inference-mode BatchNormalization the identity.

    With gamma = 1, beta = 0 and moving mean 0, BatchNormalization computes
    `x / sqrt(var + epsilon)`; `var = 1 - epsilon` makes the divisor 1 (up to one float32
    rounding) whatever the layer's epsilon.
    """
    return np.full(units, 1.0 - epsilon, dtype=np.float32)
