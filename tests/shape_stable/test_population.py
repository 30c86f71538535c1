"""PopulationDenseModel: each member trains exactly as its compact model alone."""

import keras
import numpy as np
import pytest

from kt_nasrepair.shape_stable import dense_spec
from kt_nasrepair.shape_stable.population import PopulationDenseModel, coupling_setting

CONFIGS = [([4], 1e-2), ([6, 3], 3e-3), ([5, 5, 2], 1e-3)]


def _data(samples=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, 12)).astype("float32"), rng.integers(0, 3, samples)


def _compact(widths, rate, optimizer="adam", activation="relu"):
    model = keras.Sequential([keras.Input((12,))]
                             + [keras.layers.Dense(w, activation=activation) for w in widths]
                             + [keras.layers.Dense(3, activation="softmax")])
    opt = keras.optimizers.Adam(rate) if optimizer == "adam" else keras.optimizers.SGD(rate)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _twin(model, widths, rate, optimizer="adam"):
    twin = _compact(widths, rate, optimizer)
    twin.set_weights(model.get_weights())
    return twin


def _population(models, rates, slots=4, depth=3, width=8, xla=False):
    population = PopulationDenseModel(slots, (12,), "relu", False, 3, "softmax", depth, width)
    population.compile_members(models[0].get_compile_config(), xla=xla)
    population.start([(m, dense_spec(m)[0], r) for m, r in zip(models, rates)])
    return population


def _max_difference(a, b):
    return max(float(np.abs(u - v).max()) for u, v in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("optimizer,xla", [("adam", False), ("sgd", False), ("adam", True)])
def test_each_member_trains_as_its_compact_model_alone(optimizer, xla):
    x, y = _data()
    models = [_compact(w, r, optimizer) for w, r in CONFIGS]
    alone = [_twin(m, w, r, optimizer) for m, (w, r) in zip(models, CONFIGS)]
    population = _population(models, [r for _, r in CONFIGS], xla=xla)
    # XLA on TensorFlow (the whole-space program's setting); JAX compiles anyway.
    assert population.jit_compile is (xla or keras.backend.backend() == "jax")
    np.testing.assert_allclose(  # outputs before training
        population.predict(x, verbose=0)[1], models[1].predict(x, verbose=0), atol=1e-5)
    history = population.fit(x, population.targets(y), batch_size=16, epochs=2,
                             shuffle=False, verbose=0)
    population.unload(range(len(models)))
    histories = [twin.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
                 for twin in alone]
    for k, (model, twin) in enumerate(zip(models, alone)):
        assert _max_difference(model, twin) < 1e-5, k
        np.testing.assert_allclose(population.predict(x, verbose=0)[k],
                                   twin.predict(x, verbose=0), atol=1e-5)
    for k, twin_history in enumerate(histories):
        np.testing.assert_allclose(history.history[f"m{k}_loss"],
                                   twin_history.history["loss"], rtol=1e-5)


def test_members_of_different_activations_each_train_as_alone_in_one_program():
    x, y = _data()
    configs = [([4], 1e-2, "relu"), ([6, 3], 3e-3, "tanh"), ([5, 5, 2], 1e-3, "sigmoid")]
    models = [_compact(w, r, activation=a) for w, r, a in configs]
    alone = [_compact(w, r, activation=a) for w, r, a in configs]
    for model, twin in zip(models, alone):
        twin.set_weights(model.get_weights())
    population = PopulationDenseModel(4, (12,), ("relu", "sigmoid", "tanh"), False, 3,
                                      "softmax", 3, 8)
    population.compile_members(models[0].get_compile_config())
    population.start([(m, dense_spec(m)[0], r) for m, (_, r, _) in zip(models, configs)])
    history = population.fit(x, population.targets(y), batch_size=16, epochs=2,
                             shuffle=False, verbose=0)
    population.unload(range(len(models)))
    for k, (model, twin) in enumerate(zip(models, alone)):
        twin_history = twin.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        assert _max_difference(model, twin) < 1e-5, k
        np.testing.assert_allclose(history.history[f"m{k}_loss"],
                                   twin_history.history["loss"], rtol=1e-5)


def test_a_member_is_untouched_by_another_members_weights_rate_and_divergence():
    x, y = _data()
    base = [_compact(w, r) for w, r in CONFIGS[:2]]
    runs = []
    for other_weights, other_rate in [(None, 3e-3), ("nan", 10.0)]:
        models = [_twin(m, w, r) for m, (w, r) in zip(base, CONFIGS[:2])]
        if other_weights == "nan":
            models[1].set_weights([np.full_like(w, np.nan) for w in models[1].get_weights()])
        population = _population(models, [1e-2, other_rate])
        population.fit(x, population.targets(y), batch_size=16, epochs=1, shuffle=False,
                       verbose=0)
        population.unload([0, 1])
        runs.append(models)
    assert _max_difference(runs[0][0], runs[1][0]) == 0.0
    assert np.isnan(runs[1][1].get_weights()[0]).all()


def test_masked_and_inactive_weights_get_no_update():
    x, y = _data()
    model = _compact([4], 1e-2)
    population = _population([model], [1e-2])
    rng = np.random.default_rng(1)
    noisy = population.layer_arrays()
    noisy[0][0][0, :, 4:] = rng.normal(size=noisy[0][0][0, :, 4:].shape)  # masked units
    noisy[1][0][0] = rng.normal(size=noisy[1][0][0].shape)  # an inactive layer
    noisy[2][0][0] = rng.normal(size=noisy[2][0][0].shape)  # another, in the same stack
    population.assign_layer_arrays(noisy)
    population.fit(x, population.targets(y), batch_size=16, epochs=1, verbose=0)
    after = population.layer_arrays()
    np.testing.assert_array_equal(after[0][0][0, :, 4:], noisy[0][0][0, :, 4:])
    np.testing.assert_array_equal(after[1][0][0], noisy[1][0][0])
    np.testing.assert_array_equal(after[2][0][0], noisy[2][0][0])
    assert not np.array_equal(after[0][0][0, :, :4], noisy[0][0][0, :, :4])  # it trained


def test_a_frozen_member_keeps_its_weights_while_the_others_train():
    x, y = _data()
    models = [_compact(w, r) for w, r in CONFIGS[:2]]
    population = _population(models, [1e-2, 3e-3])
    population.unload([0, 1])
    before = [m.get_weights() for m in models]
    population.freeze(0)
    population.fit(x, population.targets(y), batch_size=16, epochs=1, verbose=0)
    population.unload([0, 1])
    for a, b in zip(before[0], models[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(before[1], models[1].get_weights()))


def test_each_member_logs_its_own_loss_and_metrics():
    x, y = _data()
    models = [_compact(w, r) for w, r in CONFIGS]
    population = _population(models, [r for _, r in CONFIGS], slots=3)
    history = population.fit(x, population.targets(y), validation_split=0.25, epochs=1,
                             verbose=0)
    for k in range(3):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            prefix = "val_" if key.startswith("val_") else ""
            assert f"{prefix}m{k}_{key.removeprefix('val_')}" in history.history
    assert len({history.history[f"m{k}_loss"][0] for k in range(3)}) == 3


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="JAX compiles both steps")
def test_xla_compiles_the_train_step_and_leaves_the_validation_step(monkeypatch):
    made = []
    original = keras.Model.make_test_function

    def make_test_function(self, force=False):
        made.append(self.jit_compile)
        return original(self, force)

    monkeypatch.setattr(keras.Model, "make_test_function", make_test_function)
    x, y = _data()
    models = [_compact(w, r) for w, r in CONFIGS[:2]]
    population = _population(models, [1e-2, 3e-3], xla=True)
    history = population.fit(x, population.targets(y), validation_split=0.25, epochs=2,
                             verbose=0)
    assert made and not any(made) and population.jit_compile is True
    assert np.isfinite(history.history["val_m1_loss"]).all()


def test_optimizer_settings_that_couple_members_are_named():
    assert coupling_setting(keras.optimizers.Adam(1e-3)) is None
    assert coupling_setting(keras.optimizers.Adam(1e-3, clipnorm=1.0)) == "clipnorm=1.0"
    assert "weight_decay" in coupling_setting(keras.optimizers.AdamW(1e-3))


def test_more_members_than_slots_is_an_error():
    models = [_compact([4], 1e-2) for _ in range(3)]
    with pytest.raises(ValueError, match="3 members do not fit in 2 slots"):
        _population(models, [1e-2] * 3, slots=2)


def test_a_saturated_softmax_member_gets_the_loss_it_gets_alone():
    # Keras computes a softmax output's crossentropy from its logits: the population's
    # outputs must keep them, or a saturated member gets a clipped loss (and no divergence).
    rng = np.random.default_rng(0)
    x = rng.random((64, 12)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, 64), 3)
    models = []
    for width, rate in [(8, 1e12), (4, 1e-3)]:
        model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(width, "relu"),
                                  keras.layers.Dense(3, "softmax")])
        model.compile(optimizer=keras.optimizers.SGD(rate), loss="categorical_crossentropy")
        models.append(model)
    twin = keras.models.clone_model(models[0])
    twin.set_weights(models[0].get_weights())
    twin.compile(optimizer=keras.optimizers.SGD(1e12), loss="categorical_crossentropy")
    alone = twin.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    population = PopulationDenseModel(2, (12,), "relu", False, 3, "softmax", 1, 8)
    population.compile_members(models[0].get_compile_config())
    population.start([(m, dense_spec(m)[0], r) for m, r in zip(models, [1e12, 1e-3])])
    fused = population.fit(x, population.targets(y), batch_size=16, epochs=1, shuffle=False,
                           verbose=0)
    np.testing.assert_allclose(fused.history["m0_loss"], alone.history["loss"], rtol=1e-5,
                               equal_nan=True)
    assert np.isfinite(fused.history["m1_loss"]).all()
