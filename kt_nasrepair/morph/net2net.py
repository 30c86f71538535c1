"""Pure numpy weight algebra of the Net2Net function-preserving transformations.

Notation (Chen, Goodfellow & Shlens, "Net2Net: Accelerating Learning via Knowledge
Transfer", ICLR 2016, section 2.2): `n` units are widened to `q >= n` by a *random mapping*
`g: {0..q-1} -> {0..n-1}`, `g(j) = j` for `j < n` and uniform after (eq. 5-6). Wide unit `j`
copies unit `g(j)`; the next layer's weights from unit `j` are divided by the *replication
count* `|{x : g(x) = g(j)}|`, so the copies sum to the original contribution (eq. 6).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

# NOTE: relative to the standard deviation of the kernel that receives it (`remap_dense`);
# 1e-2 breaks the symmetry of copied units within a few SGD steps and, being zero-sum over
# the copies, never changes outputs.
DEFAULT_NOISE_STD = 1e-2


def random_mapping(n: int, q: int, rng: np.random.Generator) -> np.ndarray:
    """The random mapping `g` of `q` wide units onto `n <= q` (int64; `g[j] = j` for `j < n`)."""
    if n < 1 or q < n:
        raise ValueError(f"A random mapping needs 1 <= n <= q. Received: n={n}, q={q}")
    extra = rng.integers(0, n, size=q - n) if q > n else np.empty(0, dtype=np.int64)
    return np.concatenate([identity_mapping(n), extra.astype(np.int64)])


def identity_mapping(n: int) -> np.ndarray:
    """The mapping of a layer that is not widened."""
    return np.arange(n, dtype=np.int64)


def replication_counts(mapping: np.ndarray, n: int) -> np.ndarray:
    """How many wide units copy each of the `n` original units."""
    return np.bincount(mapping, minlength=n)


def zero_sum_noise(
    mapping: np.ndarray, columns: int, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """float32 noise on a kernel's rows that sums to zero over each group of copied units.

    Copies receive the same input, so only the sum of their outgoing weights matters: taking
    out the group mean keeps the function while their gradients differ (section 2.2). Uniform
    with standard deviation `scale` before centring; rows of unreplicated units stay zero.
    """
    q = mapping.shape[0]
    noise = np.zeros((q, columns), dtype=np.float32)
    n = int(mapping.max()) + 1 if q else 0
    counts = replication_counts(mapping, n)
    copied = counts[mapping] > 1
    if scale <= 0 or not copied.any():
        return noise
    rows = np.flatnonzero(copied)
    # NOTE: uniform noise is several times faster to draw than Gaussian; any zero-mean
    # distribution breaks symmetry.
    block = rng.random((rows.size, columns), dtype=np.float32)
    block -= np.float32(0.5)
    block *= np.float32(scale * np.sqrt(12.0))
    groups = mapping[rows]
    # Group sums through a sparse one-hot product: ~20x faster than np.add.at here.
    one_hot = scipy.sparse.csr_matrix(
        (np.ones(rows.size, np.float32), (groups, np.arange(rows.size))), shape=(n, rows.size))
    block -= ((one_hot @ block) / counts[:, None].astype(np.float32))[groups]
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
    """A Dense layer's float32 `(kernel, bias)` for widened inputs and outputs (eq. 6).

    Weight `(i, j)` becomes `kernel[g_in[i], g_out[j]] / count_in[g_in[i]]`, bias `j` becomes
    `bias[g_out[j]]`; rows of copied inputs get zero-sum noise of standard deviation
    `noise_std * std(kernel)` (`zero_sum_noise`; `rng` is needed when `noise_std > 0`).
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


def batchnorm_affine(gamma, beta, moving_mean, moving_variance, epsilon: float):
    """Inference-mode BatchNormalization as `x * scale + shift` (Ioffe & Szegedy, 2015, alg. 2).

    In float64, so that folding it adds no rounding; `gamma`/`beta` may be `None`.
    """
    inv_std = 1.0 / np.sqrt(np.asarray(moving_variance, dtype=np.float64) + epsilon)
    scale = inv_std * (1.0 if gamma is None else np.asarray(gamma, dtype=np.float64))
    shift = (0.0 if beta is None else np.asarray(beta, dtype=np.float64)) - np.asarray(
        moving_mean, dtype=np.float64) * scale
    return scale, shift


def fold_output_affine(kernel, bias, scale, shift):
    """`(x @ K + b) * scale + shift` as one Dense layer (float64)."""
    return (np.asarray(kernel, dtype=np.float64) * scale[None, :],
            np.asarray(bias, dtype=np.float64) * scale + shift)


def fold_input_affine(kernel, bias, scale, shift):
    """`(x * scale + shift) @ K + b` as one Dense layer (float64)."""
    kernel64 = np.asarray(kernel, dtype=np.float64)
    return kernel64 * scale[:, None], np.asarray(bias, dtype=np.float64) + shift @ kernel64
