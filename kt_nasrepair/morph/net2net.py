"""Pure numpy weight algebra of Net2Net (Chen, Goodfellow & Shlens, ICLR 2016; docs/morph.md).

Widening `n` units to `q` uses a random mapping `g`: `g(j) = j` for `j < n`, uniform after.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

# NOTE: relative to the std of the kernel that receives it; 1e-2 breaks the symmetry of copies
# within a few SGD steps and, being zero-sum over the copies, never changes outputs.
DEFAULT_NOISE_STD = 1e-2


def random_mapping(n: int, q: int, rng: np.random.Generator) -> np.ndarray:
    """The random mapping `g` of `q` wide units onto `n <= q` (int64; `g[j] = j` for `j < n`)."""
    if n < 1 or q < n:
        raise ValueError(f"A random mapping needs 1 <= n <= q. Received: n={n}, q={q}")
    return np.concatenate([identity_mapping(n), rng.integers(0, n, size=q - n, dtype=np.int64)])


def identity_mapping(n: int) -> np.ndarray:
    """The mapping of a layer that is not widened."""
    return np.arange(n, dtype=np.int64)


def replication_counts(mapping: np.ndarray, n: int) -> np.ndarray:
    """How many wide units copy each of the `n` original units."""
    return np.bincount(mapping, minlength=n)


def zero_sum_noise(
    mapping: np.ndarray, columns: int, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """float32 noise of std `scale` on copied units' rows, zero-sum over each group (sec. 2.2)."""
    noise = np.zeros((mapping.shape[0], columns), dtype=np.float32)
    counts = replication_counts(mapping, int(mapping.max()) + 1 if mapping.size else 0)
    rows = np.flatnonzero(counts[mapping] > 1)
    if scale <= 0 or not rows.size:
        return noise
    # NOTE: uniform noise is several times faster to draw than Gaussian.
    block = rng.random((rows.size, columns), dtype=np.float32) - np.float32(0.5)
    block *= np.float32(scale * np.sqrt(12.0))
    groups, n = mapping[rows], counts.shape[0]
    # Group sums through a sparse one-hot product: ~20x faster than np.add.at here.
    one_hot = scipy.sparse.csr_matrix(
        (np.ones(rows.size, np.float32), (groups, np.arange(rows.size))), shape=(n, rows.size))
    block -= ((one_hot @ block) / counts[:, None].astype(np.float32))[groups]
    noise[rows] = block
    return noise


def remap_dense(kernel, bias, in_mapping, out_mapping, *, noise_std: float = 0.0,
                rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A Dense layer's float32 `(kernel, bias)` for widened inputs and outputs (eq. 6).

    Weight `(i, j)` becomes `kernel[g_in[i], g_out[j]] / count_in[g_in[i]]`; rows of copied
    inputs get zero-sum noise of std `noise_std * std(kernel)` (`rng` needed when > 0).
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    counts = replication_counts(in_mapping, kernel.shape[0])
    # Two takes are faster than one np.ix_ gather; skip those that would copy unchanged.
    new_kernel = kernel
    for axis, mapping in enumerate((in_mapping, out_mapping)):
        n = kernel.shape[axis]
        if mapping.shape[0] != n or not (mapping == np.arange(n)).all():
            new_kernel = new_kernel.take(mapping, axis=axis)
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


def identity_dense(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of an `n`-unit identity Dense layer (Net2DeeperNet, section 2.3)."""
    return np.eye(n, dtype=np.float32), np.zeros(n, dtype=np.float32)


def batchnorm_affine(gamma, beta, moving_mean, moving_variance, epsilon: float):
    """Inference-mode BN as float64 `x * scale + shift` (Ioffe & Szegedy, 2015, alg. 2)."""
    scale = 1.0 / np.sqrt(np.asarray(moving_variance, dtype=np.float64) + epsilon)
    scale = scale * (1.0 if gamma is None else np.asarray(gamma, dtype=np.float64))
    shift = 0.0 if beta is None else np.asarray(beta, dtype=np.float64)
    return scale, shift - np.asarray(moving_mean, dtype=np.float64) * scale


def fold_output_affine(kernel, bias, scale, shift):
    """`(x @ K + b) * scale + shift` as one Dense layer (float64)."""
    return (np.asarray(kernel, dtype=np.float64) * scale[None, :],
            np.asarray(bias, dtype=np.float64) * scale + shift)


def fold_input_affine(kernel, bias, scale, shift):
    """`(x * scale + shift) @ K + b` as one Dense layer (float64)."""
    kernel64 = np.asarray(kernel, dtype=np.float64)
    return kernel64 * scale[:, None], np.asarray(bias, dtype=np.float64) + shift @ kernel64
