"""widen / deepen / describe on Keras models."""

import json

import keras
import numpy as np
import pytest
from morph_factories import build_chain, infer, inputs

from kt_nasrepair import morph


def _weights(model):
    return [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("dropout", [None, 0.3])
@pytest.mark.parametrize("functional", [False, True])
def test_widen_preserves_function_and_leaves_input_untouched(batch_norm, dropout, functional):
    model = build_chain(6, [4, 5], batch_norm=batch_norm, dropout=dropout, functional=functional)
    before = _weights(model)
    x = inputs(6)
    wider = morph.widen(model, "dense_0", 9, noise_std=0, seed=0)
    assert morph.hidden_widths(wider) == [9, 5]
    assert type(wider) is type(model)
    np.testing.assert_allclose(infer(wider, x), infer(model, x), atol=1e-5)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_widen_replicates_batchnorm_statistics():
    model = build_chain(6, [3, 5], batch_norm=True)
    wider = morph.widen(model, 0, 7, noise_std=0, seed=3)
    old_bn, new_bn = model.get_layer("bn_0"), wider.get_layer("bn_0")
    new_kernel = wider.get_layer("dense_0").get_weights()[0]
    old_kernel = model.get_layer("dense_0").get_weights()[0]
    for j in range(7):
        source = int(np.flatnonzero((old_kernel == new_kernel[:, [j]]).all(axis=0))[0])
        for old, new in zip(old_bn.get_weights(), new_bn.get_weights()):
            assert new[j] == old[source]


def test_widen_with_noise_stays_close():
    model = build_chain(8, [6, 6])
    x = inputs(8)
    wider = morph.widen(model, "dense_1", 20, seed=0)  # default noise
    out, ref = infer(wider, x), infer(model, x)
    assert np.max(np.abs(out - ref)) / np.max(np.abs(ref)) <= 1e-2
    np.testing.assert_allclose(out, ref, atol=1e-5)  # zero-sum noise: still exact


def _copy_gap(model, original, copy):
    kernel = model.get_layer("dense_0").get_weights()[0]
    return float(np.max(np.abs(kernel[:, original] - kernel[:, copy])))


@pytest.mark.parametrize("noise_std, diverges", [(0.0, False), (0.05, True)])
def test_copied_units_diverge_only_with_noise(noise_std, diverges):
    model = build_chain(8, [3], outputs=2)
    wider = morph.widen(model, "dense_0", 6, noise_std=noise_std, seed=1)
    kernel = wider.get_layer("dense_0").get_weights()[0]
    copy = 5
    original = int(np.flatnonzero((kernel[:, :3] == kernel[:, [copy]]).all(axis=0))[0])
    assert _copy_gap(wider, original, copy) == 0.0
    wider.compile(optimizer=keras.optimizers.SGD(0.5), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 2, 64), 2)
    wider.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    gap = _copy_gap(wider, original, copy)
    if diverges:
        assert gap > 1e-4
    else:
        assert gap < 1e-6


def test_widen_rejects_shrinking_and_output_layer():
    model = build_chain(4, [5])
    with pytest.raises(morph.NotMorphableError, match="from 5 to 3 units.*shrinking"):
        morph.widen(model, "dense_0", 3)
    with pytest.raises(morph.NotMorphableError, match="it is the output layer"):
        morph.widen(model, "output", 8)
    with pytest.raises(morph.NotMorphableError, match="index out of range"):
        morph.widen(model, 4, 8)
    with pytest.raises(TypeError, match="units=5.5"):
        morph.widen(model, 0, 5.5)
    with pytest.raises(ValueError, match="noise_std=-1"):
        morph.widen(model, 0, 6, noise_std=-1)


def test_widen_carries_compile_config_with_a_fresh_optimizer():
    model = build_chain(4, [5])
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(inputs(4, 8), keras.utils.to_categorical(np.arange(8) % 3, 3), verbose=0)
    wider = morph.widen(model, 0, 7, seed=0)
    assert wider.compiled
    assert float(wider.optimizer.learning_rate) == pytest.approx(0.003)
    assert int(wider.optimizer.iterations) == 0


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_deepen_inserts_an_exact_identity_layer(activation):
    model = build_chain(6, [4, 5], activation=activation, dropout=0.2)
    x = inputs(6)
    deeper = morph.deepen(model, "dense_1", noise_std=0)
    assert morph.hidden_widths(deeper) == [4, 5, 5]
    described = morph.describe(deeper)
    assert described[2]["name"] == "dense_1_identity"
    assert described[2]["activation"] == activation
    names = [layer.name for layer in deeper.layers]
    assert names.index("dense_1_identity") == names.index("dropout_1") + 1
    np.testing.assert_allclose(infer(deeper, x), infer(model, x), atol=1e-5)


def test_deepen_relu_goes_before_a_batchnorm_that_follows_the_relu():
    model = build_chain(6, [4], batch_norm=True)
    deeper = morph.deepen(model, 0)
    names = [layer.name for layer in deeper.layers]
    assert names == ["dense_0", "dense_0_identity", "bn_0", "output"]
    x = inputs(6)
    np.testing.assert_allclose(infer(deeper, x), infer(model, x), atol=1e-5)


def test_deepen_after_batchnorm_then_relu_activation_goes_last():
    model = keras.Sequential([
        keras.Input((5,)), keras.layers.Dense(4, name="d"),
        keras.layers.BatchNormalization(name="bn"), keras.layers.Activation("relu", name="act"),
        keras.layers.Dense(2, name="out")])
    x = inputs(5)
    deeper = morph.deepen(model, "d", activation="relu")
    assert [layer.name for layer in deeper.layers] == ["d", "bn", "act", "d_identity", "out"]
    np.testing.assert_allclose(infer(deeper, x), infer(model, x), atol=1e-5)


def test_deepen_tanh_needs_a_linear_insert():
    model = build_chain(6, [4], activation="tanh")
    with pytest.raises(morph.NotMorphableError, match="'tanh' is not idempotent.*'linear'"):
        morph.deepen(model, 0)
    deeper = morph.deepen(model, 0, activation="linear")
    x = inputs(6)
    np.testing.assert_allclose(infer(deeper, x), infer(model, x), atol=1e-5)


def test_deepen_relu_after_linear_layer_is_refused():
    model = build_chain(6, [4], activation="linear")
    with pytest.raises(morph.NotMorphableError, match="relu is not the identity"):
        morph.deepen(model, "dense_0", activation="relu")


def test_unsupported_layer_is_named():
    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(4, name="d0"),
        keras.layers.LayerNormalization(name="ln"), keras.layers.Dense(2, name="out")])
    for call in (lambda: morph.widen(model, 0, 6), lambda: morph.deepen(model, 0),
                 lambda: morph.describe(model), lambda: morph.hidden_widths(model)):
        with pytest.raises(morph.NotMorphableError, match="'ln' \\(LayerNormalization\\)"):
            call()


def test_branching_functional_model_is_refused():
    inputs_ = keras.Input((4,))
    a = keras.layers.Dense(3, name="a")(inputs_)
    b = keras.layers.Dense(3, name="b")(inputs_)
    out = keras.layers.Dense(2, name="out")(keras.layers.Add(name="add")([a, b]))
    with pytest.raises(morph.NotMorphableError, match="'b'.*single-chain"):
        morph.hidden_widths(keras.Model(inputs_, out))


def test_dense_on_images_needs_flatten():
    model = keras.Sequential([keras.Input((4, 4)), keras.layers.Dense(3, name="d"),
                              keras.layers.Dense(2, name="out")])
    with pytest.raises(morph.NotMorphableError, match="'d' receives inputs of shape"):
        morph.describe(model)


def test_flatten_prefix_and_describe():
    model = keras.Sequential([keras.Input((4, 4)), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(3, activation="relu", name="d"),
                              keras.layers.Dropout(0.5, name="drop"),
                              keras.layers.Dense(2, activation="softmax", name="out")])
    described = morph.describe(model)
    assert described == [{"name": "d", "units": 3, "activation": "relu",
                          "batch_norm": False, "dropout": 0.5}]
    json.dumps(described)
    x = np.random.default_rng(0).normal(size=(5, 4, 4)).astype("float32")
    wider = morph.deepen(morph.widen(model, "d", 8, seed=0), "d")
    np.testing.assert_allclose(infer(wider, x), infer(model, x), atol=1e-5)
    np.testing.assert_allclose(morph.forward(wider, x), infer(model, x), atol=1e-5)


def test_unbuilt_model_is_refused():
    with pytest.raises(morph.NotMorphableError, match="not built"):
        morph.describe(keras.Sequential([keras.layers.Dense(3)]))
