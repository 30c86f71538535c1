"""Pure numpy algebra of the shape-stable mode: a compact MLP inside a padded one.

Layer `i < d` holds the compact kernel in its leading `(rows, w_i)` block (mask 1 there), layers
`i >= d` are gated off, everything else is 0 (docs/guides/shape_stable.md).
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
    """The `max_depth + 1` padded `(kernel, bias)` pairs holding the `compact` pairs.

    Both lists are the hidden layers' pairs, then the output layer's.
    """
    *hidden, (out_kernel, out_bias) = compact
    if not 1 <= len(hidden) <= max_depth:
        raise ValueError(f"{len(hidden)} hidden layers do not fit in {max_depth}.")
    rows = [np.shape(hidden[0][0])[0]] + [max_width] * (max_depth - 1)
    empty = (np.zeros((0, 0), "float32"), np.zeros((0,), "float32"))  # a gated-off layer
    result = [(pad_block(kernel, (r, max_width)), pad_block(bias, (max_width,)))
              for (kernel, bias), r in zip(hidden + [empty] * (max_depth - len(hidden)), rows)]
    return result + [(pad_block(out_kernel, (max_width, np.shape(out_kernel)[1])),
                      np.asarray(out_bias))]


def compact_weights(padded: Sequence[tuple[np.ndarray, np.ndarray]],
                    widths: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The `len(widths) + 1` compact `(kernel, bias)` pairs read back from the padded ones."""
    *hidden, (out_kernel, out_bias) = padded
    rows = [np.shape(hidden[0][0])[0], *widths]
    result = [(leading_block(kernel, (r, w)), leading_block(bias, (w,)))
              for (kernel, bias), r, w in zip(hidden, rows, widths)]
    return result + [(leading_block(out_kernel, (rows[-1], np.shape(out_kernel)[1])),
                      np.array(out_bias))]
