"""shape_stable/slices.py: a compact MLP's weights in the padded network and back."""

import numpy as np
import pytest

from kt_nasrepair.shape_stable import slices


def _compact(rng, in_dim, widths, outputs):
    dims = [in_dim, *widths, outputs]
    return [(rng.standard_normal((a, b)).astype("float32"),
             rng.standard_normal(b).astype("float32")) for a, b in zip(dims, dims[1:])]


def test_masks_and_gates_mark_the_active_part():
    np.testing.assert_array_equal(slices.unit_mask(2, 4), [1, 1, 0, 0])
    np.testing.assert_array_equal(slices.layer_gates(1, 3), [1, 0, 0])


@pytest.mark.parametrize("widths", [[3], [5, 2], [1, 6, 4]])
def test_padding_then_compacting_gives_back_the_weights(widths):
    rng = np.random.default_rng(0)
    compact = _compact(rng, 7, widths, 3)
    padded = slices.padded_weights(compact, max_depth=3, max_width=6)
    assert [k.shape for k, _ in padded] == [(7, 6), (6, 6), (6, 6), (6, 3)]
    for kernel, _ in padded[len(widths):-1]:  # inactive layers hold nothing
        assert not kernel.any()
    # Outside the compact blocks every padded entry is zero.
    assert sum(np.count_nonzero(k) + np.count_nonzero(b) for k, b in padded) == sum(
        k.size + b.size for k, b in compact)
    back = slices.compact_weights(padded, widths)
    for (k, b), (k2, b2) in zip(compact, back):
        np.testing.assert_array_equal(k, k2)
        np.testing.assert_array_equal(b, b2)


def test_padded_forward_pass_equals_the_compact_one():
    """The algebra of MaskedDense in numpy: masks, identity gates, zero padding."""
    rng = np.random.default_rng(1)
    widths, max_depth, max_width = [4, 2], 4, 5
    compact = _compact(rng, 3, widths, 2)
    padded = slices.padded_weights(compact, max_depth, max_width)
    # Garbage where the masks and gates must make it irrelevant.
    for i, (kernel, bias) in enumerate(padded[:-1]):
        width = widths[i] if i < len(widths) else 0
        kernel[:, width:] = rng.standard_normal(kernel[:, width:].shape)
        bias[width:] = 5.0
    x = rng.standard_normal((8, 3)).astype("float32")
    h = x
    for kernel, bias in compact[:-1]:
        h = np.tanh(h @ kernel + bias)
    expected = h @ compact[-1][0] + compact[-1][1]
    h = x
    gates = slices.layer_gates(len(widths), max_depth)
    for i, (kernel, bias) in enumerate(padded[:-1]):
        width = widths[i] if i < len(widths) else 0
        out = np.tanh(h @ kernel + bias) * slices.unit_mask(width, max_width)
        h = out if i == 0 else gates[i] * out + (1 - gates[i]) * h
    np.testing.assert_allclose(h @ padded[-1][0] + padded[-1][1], expected, atol=1e-5)


def test_a_block_larger_than_the_padded_array_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        slices.pad_block(np.ones((3, 4)), (3, 2))
    with pytest.raises(ValueError, match="hidden layers do not fit"):
        slices.padded_weights(_compact(np.random.default_rng(0), 2, [1, 1, 1], 2), 2, 4)
