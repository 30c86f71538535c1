"""The numpy algebra, on plain arrays."""

import numpy as np
import pytest

from kt_nasrepair.morph import net2net


def _relu(x):
    return np.maximum(x, 0)


def test_random_mapping_keeps_originals_and_covers_range():
    rng = np.random.default_rng(0)
    mapping = net2net.random_mapping(5, 12, rng)
    np.testing.assert_array_equal(mapping[:5], np.arange(5))
    assert mapping.shape == (12,) and mapping.min() >= 0 and mapping.max() < 5
    counts = net2net.replication_counts(mapping, 5)
    assert counts.sum() == 12 and counts.min() >= 1


def test_random_mapping_rejects_shrinking():
    with pytest.raises(ValueError, match="n=5, q=3"):
        net2net.random_mapping(5, 3, np.random.default_rng(0))


def test_zero_sum_noise_sums_to_zero_per_group_and_spares_single_units():
    rng = np.random.default_rng(1)
    mapping = np.array([0, 1, 2, 0, 0, 2])
    noise = net2net.zero_sum_noise(mapping, 4, scale=0.5, rng=rng)
    np.testing.assert_allclose(noise[[0, 3, 4]].sum(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(noise[[2, 5]].sum(axis=0), 0, atol=1e-6)
    np.testing.assert_array_equal(noise[1], 0)
    assert np.abs(noise[[0, 3, 4]]).min() > 0


def test_zero_sum_noise_has_requested_scale():
    rng = np.random.default_rng(2)
    noise = net2net.zero_sum_noise(np.repeat(np.arange(200), 2), 500, scale=0.1, rng=rng)
    # Centring pairs halves the variance: std = 0.1 / sqrt(2).
    np.testing.assert_allclose(noise.std(), 0.1 / np.sqrt(2), rtol=0.02)


def test_remap_dense_divides_incoming_rows_by_replication_count():
    kernel = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    bias = np.array([0.5, -0.5], np.float32)
    in_mapping = np.array([0, 1, 0])
    out_mapping = np.array([0, 1, 1])
    new_kernel, new_bias = net2net.remap_dense(kernel, bias, in_mapping, out_mapping)
    np.testing.assert_allclose(new_kernel, [[0.5, 1, 1], [3, 4, 4], [0.5, 1, 1]])
    np.testing.assert_allclose(new_bias, [0.5, -0.5, -0.5])


@pytest.mark.parametrize("noise_std", [0.0, 0.1])
def test_widening_a_numpy_chain_preserves_its_function(noise_std):
    rng = np.random.default_rng(3)
    k1, b1 = rng.normal(size=(6, 4)), rng.normal(size=4)
    k2, b2 = rng.normal(size=(4, 3)), rng.normal(size=3)
    x = rng.normal(size=(10, 6))
    expected = _relu(x @ k1 + b1) @ k2 + b2
    mapping = net2net.random_mapping(4, 9, rng)
    w1, c1 = net2net.remap_dense(k1, b1, np.arange(6), mapping)
    w2, c2 = net2net.remap_dense(k2, b2, mapping, np.arange(3), noise_std=noise_std, rng=rng)
    np.testing.assert_allclose(_relu(x @ w1 + c1) @ w2 + c2, expected, atol=1e-4)
    if noise_std:
        copies = np.flatnonzero(mapping == mapping[4])
        assert np.abs(w2[copies[0]] - w2[copies[1]]).max() > 1e-3


def test_remap_dense_noise_needs_rng():
    with pytest.raises(ValueError, match="rng"):
        net2net.remap_dense(np.ones((2, 2)), np.zeros(2), np.array([0, 1, 1]), np.arange(2),
                            noise_std=0.1)


def test_batchnorm_affine_matches_hand_computed_constants():
    scale, shift = net2net.batchnorm_affine(
        np.array([2.0]), np.array([1.0]), np.array([3.0]), np.array([4.0 - 1e-3]), 1e-3)
    # 2 * (x - 3) / 2 + 1 = x - 2
    np.testing.assert_allclose(scale, [1.0])
    np.testing.assert_allclose(shift, [-2.0])


def test_folding_affines_into_a_dense_layer():
    rng = np.random.default_rng(4)
    kernel, bias = rng.normal(size=(3, 2)), rng.normal(size=2)
    s_in, t_in = rng.normal(size=3), rng.normal(size=3)
    s_out, t_out = rng.normal(size=2), rng.normal(size=2)
    x = rng.normal(size=(5, 3))
    k, b = net2net.fold_input_affine(kernel, bias, s_in, t_in)
    np.testing.assert_allclose(x @ k + b, (x * s_in + t_in) @ kernel + bias)
    k, b = net2net.fold_output_affine(kernel, bias, s_out, t_out)
    np.testing.assert_allclose(x @ k + b, (x @ kernel + bias) * s_out + t_out)
