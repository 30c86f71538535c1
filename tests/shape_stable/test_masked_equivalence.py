"""A padded network with a compact model loaded computes that model: outputs and gradients."""

import keras
import keras_tuner
import numpy as np
import pytest
from keras import ops

from kt_nasrepair import DenseHyperModel
from kt_nasrepair.shape_stable import PaddedDenseModel, slices

MAX_DEPTH, MAX_WIDTH = 3, 8


def _hypermodel(activation, dropout=None):
    # SGD with learning rate 1: one step moves every weight by minus its gradient.
    return DenseHyperModel(input_shape=(5,), num_classes=3, num_layers=(1, MAX_DEPTH),
                           units=(1, MAX_WIDTH), activation=activation, dropout=dropout,
                           learning_rate=None, optimizer=keras.optimizers.SGD(1.0),
                           shape_stable=True)


def _compact(hypermodel, widths, rate=None):
    hp = keras_tuner.HyperParameters()
    hp.values["num_layers"] = len(widths)
    for i, width in enumerate(widths):
        hp.values[f"units_{i}"] = width
    if rate is not None:
        hp.values["dropout"] = rate
    return hypermodel.build(hp)


def _fill_inactive_with_garbage(padded, widths, rng):
    """Random values wherever masks and gates must make the weights irrelevant."""
    garbage = []
    rows = None
    for i, layer in enumerate(padded.hidden_layers):
        kernel = ops.convert_to_numpy(layer.kernel).copy()
        bias = ops.convert_to_numpy(layer.bias).copy()
        width = widths[i] if i < len(widths) else 0
        where_k = np.ones_like(kernel, dtype=bool)
        where_k[: (rows if rows is not None else kernel.shape[0]), :width] = False
        where_b = np.arange(MAX_WIDTH) >= width
        kernel[where_k] = rng.standard_normal(where_k.sum())
        bias[where_b] = rng.standard_normal(where_b.sum())
        layer.kernel.assign(kernel)
        layer.bias.assign(bias)
        garbage += [where_k, where_b]
        rows = width if i < len(widths) else rows
    kernel, bias = padded.output_layer.get_weights()
    where_k = np.ones_like(kernel, dtype=bool)
    where_k[: widths[-1]] = False
    kernel[where_k] = rng.standard_normal(where_k.sum())
    padded.output_layer.set_weights([kernel, bias])
    return garbage + [where_k, np.zeros_like(bias, dtype=bool)]


def _padded_pairs(padded):
    pairs = []
    for layer in padded.hidden_layers:
        pairs += [ops.convert_to_numpy(layer.kernel), ops.convert_to_numpy(layer.bias)]
    return pairs + [np.asarray(w) for w in padded.output_layer.get_weights()]


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("widths", [[4], [3, 6], [8, 2, 5]])
def test_outputs_and_gradients_are_the_compact_models(activation, widths):
    rng = np.random.default_rng(0)
    hypermodel = _hypermodel(activation)
    compact = _compact(hypermodel, widths)
    padded, reason = hypermodel.runner.prepare(compact)
    assert isinstance(padded, PaddedDenseModel), reason
    garbage = _fill_inactive_with_garbage(padded, widths, rng)
    x = rng.standard_normal((16, 5)).astype("float32")
    y = rng.integers(0, 3, 16)

    np.testing.assert_allclose(padded.predict(x, verbose=0), compact.predict(x, verbose=0),
                               atol=1e-5)

    before_padded = _padded_pairs(padded)
    before_compact = [np.asarray(w) for w in compact.get_weights()]
    padded.train_on_batch(x, y)
    compact.train_on_batch(x, y)
    step_padded = [a - b for a, b in zip(_padded_pairs(padded), before_padded)]
    step_compact = [a - b for a, b in zip(compact.get_weights(), before_compact)]
    # Masked weights and inactive layers receive exactly zero gradient.
    for step, where in zip(step_padded, garbage):
        np.testing.assert_array_equal(step[where], 0.0)
    # The active slices move exactly as the compact model's weights.
    pairs = list(zip(step_padded[0::2], step_padded[1::2]))
    active = [w for pair in slices.compact_weights(pairs, widths) for w in pair]
    for got, expected in zip(active, step_compact, strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert max(np.abs(s).max() for s in step_compact) > 1e-4  # the step did move something


def test_dropout_rate_is_a_variable_and_inference_ignores_it():
    hypermodel = _hypermodel("relu", dropout=(0.0, 0.5, 0.25))
    runner = hypermodel.runner
    x = np.random.default_rng(1).standard_normal((64, 5)).astype("float32")
    for rate in (0.0, 0.5):
        compact = _compact(hypermodel, [6, 6], rate=rate)
        padded, reason = runner.prepare(compact)
        assert padded is not None, reason
        assert float(ops.convert_to_numpy(padded.hidden_layers[0].rate)) == rate
        np.testing.assert_allclose(padded.predict(x, verbose=0),
                                   compact.predict(x, verbose=0), atol=1e-5)
        noisy = ops.convert_to_numpy(padded(x, training=True))
        assert np.allclose(noisy, padded.predict(x, verbose=0), atol=1e-6) == (rate == 0.0)
    assert len(runner.padded_models) == 1  # both rates share one network
