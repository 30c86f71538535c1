"""Pure numpy algebra of the shape-stable mode: a compact MLP inside a padded one.

A compact network with hidden widths `w_0 .. w_{d-1}` lives in a padded network of `D >= d`
hidden layers of `M >= max(w_i)` units each:

- padded hidden layer `i < d` holds the compact kernel in its top-left `(rows, w_i)` block and
  the compact bias in its first `w_i` entries; its unit mask is 1 on those units, 0 elsewhere;
- padded hidden layer `i >= d` is inactive: its gate is 0, so it passes its input through;
- the output kernel holds the compact one in its first `w_{d-1}` rows.

Everything outside the blocks is 0. A masked unit outputs exactly 0, so the rows of the next
kernel that read it receive a zero gradient, and its own column receives a zero gradient
through the mask: training moves only the compact network's weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def unit_mask(width: int, max_width: int) -> np.ndarray:
    """`max_width` float32 values, 1 on the first `width` units and 0 after."""
    mask = np.zeros((max_width,), dtype="float32")
    mask[:width] = 1.0
    return mask


def layer_gates(depth: int, max_depth: int) -> np.ndarray:
    """1 for the first `depth` hidden layers, 0 (identity) for the rest."""
    return unit_mask(depth, max_depth)


def pad_block(block: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """`block` in the leading corner of a zero array of `shape` (same rank, each dim >=)."""
    block = np.asarray(block)
    if block.ndim != len(shape) or any(b > s for b, s in zip(block.shape, shape)):
        raise ValueError(f"A block of shape {block.shape} does not fit in a padded array of "
                         f"shape {tuple(shape)}.")
    padded = np.zeros(tuple(shape), dtype=block.dtype)
    padded[tuple(slice(0, b) for b in block.shape)] = block
    return padded


def leading_block(array: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The leading corner of `array` of `shape` (the inverse of `pad_block`)."""
    return np.array(array[tuple(slice(0, s) for s in shape)])


def padded_weights(compact: Sequence[tuple[np.ndarray, np.ndarray]], max_depth: int,
                   max_width: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The padded network's `(kernel, bias)` pairs holding a compact network.

    Args:
        compact: `(kernel, bias)` of each compact hidden layer, then of the output layer.
        max_depth: Number of padded hidden layers.
        max_width: Width of every padded hidden layer.

    Returns:
        `max_depth + 1` pairs: the padded hidden layers, then the output layer.
    """
    *hidden, (out_kernel, out_bias) = compact
    if not 1 <= len(hidden) <= max_depth:
        raise ValueError(f"{len(hidden)} hidden layers do not fit in {max_depth}.")
    rows = np.shape(hidden[0][0])[0]
    result = []
    for i in range(max_depth):
        kernel, bias = hidden[i] if i < len(hidden) else (np.zeros((rows, 0), "float32"),
                                                          np.zeros((0,), "float32"))
        result.append((pad_block(kernel, (rows, max_width)), pad_block(bias, (max_width,))))
        rows = max_width
    result.append((pad_block(out_kernel, (max_width, np.shape(out_kernel)[1])),
                   np.asarray(out_bias)))
    return result


def compact_weights(padded: Sequence[tuple[np.ndarray, np.ndarray]],
                    widths: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The compact network's `(kernel, bias)` pairs read back from the padded ones.

    Args:
        padded: The padded hidden layers' pairs, then the output layer's.
        widths: The compact hidden widths.

    Returns:
        `len(widths) + 1` pairs.
    """
    *hidden, (out_kernel, out_bias) = padded
    result = []
    rows = np.shape(hidden[0][0])[0]
    for i, width in enumerate(widths):
        kernel, bias = hidden[i]
        result.append((leading_block(kernel, (rows, width)), leading_block(bias, (width,))))
        rows = width
    result.append((leading_block(out_kernel, (rows, np.shape(out_kernel)[1])),
                   np.array(out_bias)))
    return result
