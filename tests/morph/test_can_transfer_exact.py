"""`can_transfer` answers exactly what `transfer` can do (issue 12, item 2/5).

For every donor/target pair: `can_transfer` is True <=> `transfer` succeeds and keeps the
function within `DEFAULT_MAX_DEVIATION` (measured here through Keras, not only by the report).
"""

import importlib
import os

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from morph_factories import infer, inputs

from kt_nasrepair import morph


def _relu_lookalike(x):  # a user function that happens to share a Keras name
    return keras.ops.abs(x)


_relu_lookalike.__name__ = "relu"


def chain(widths, *, outputs=3, activation="relu", use_bias=True, bn=None, dropout=None,
          output_activation="softmax", output_bias=True, prefix_bn=False, seed=0):
    """A Sequential dense chain; per-layer lists allowed for activation/use_bias/bn.

    `bn` per layer: None, "head" (Dense -> BN -> activation) or "tail" (Dense(act) -> BN).
    """
    count = len(widths)

    def per_layer(value):
        return list(value) if isinstance(value, list) else [value] * count

    acts, biases, bns = per_layer(activation), per_layer(use_bias), per_layer(bn)
    layers = [keras.Input((5,))]
    if prefix_bn:
        layers.append(keras.layers.BatchNormalization(name="bn_in"))
    for i, width in enumerate(widths):
        if bns[i] == "head":
            layers += [keras.layers.Dense(width, use_bias=biases[i], name=f"dense_{i}"),
                       keras.layers.BatchNormalization(name=f"bn_{i}"),
                       keras.layers.Activation(acts[i], name=f"act_{i}")]
        else:
            layers.append(keras.layers.Dense(width, activation=acts[i], use_bias=biases[i],
                                             name=f"dense_{i}"))
            if bns[i] == "tail":
                layers.append(keras.layers.BatchNormalization(name=f"bn_{i}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name=f"drop_{i}"))
    layers.append(keras.layers.Dense(outputs, activation=output_activation,
                                     use_bias=output_bias, name="output"))
    model = keras.Sequential(layers)
    _randomize(model, seed)
    return model


def _randomize(model, seed):
    """Non-trivial biases and BatchNormalization statistics (a trained model's)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([(0.5 + rng.random(w.shape)).astype("float32") if k in (0, 3)
                               else rng.normal(size=w.shape).astype("float32")
                               for k, w in enumerate(weights)])
        elif isinstance(layer, keras.layers.Dense) and layer.use_bias:
            layer.set_weights([weights[0], rng.normal(size=weights[1].shape).astype("float32")])


def _transfer_outcome(donor, target):
    """`(succeeded and exact, reason)` of a real transfer, checked through Keras."""
    x = inputs(5, n=16)
    before = [w.copy() for w in target.get_weights()]
    try:
        report = morph.transfer(donor, target, seed=0, probe=x)
    except morph.NotMorphableError as error:
        for old, new in zip(before, target.get_weights()):
            np.testing.assert_array_equal(old, new)  # refused: target untouched
        return False, str(error)
    keras_gap = float(np.max(np.abs(infer(target, x) - infer(donor, x))))
    scale = max(1.0, float(np.max(np.abs(infer(donor, x)))))
    exact = keras_gap <= morph.DEFAULT_MAX_DEVIATION * scale
    assert report.within_tolerance() == exact, (report, keras_gap)
    return exact, f"transfer succeeded with deviation {keras_gap}"


CASES = {
    "bias into no-bias hidden": (dict(widths=[4]), dict(widths=[6], use_bias=False), False),
    "no bias into no bias": (dict(widths=[4], use_bias=False),
                             dict(widths=[6], use_bias=False), True),
    "bias absorbed by a following BN": (dict(widths=[4], bn="head"),
                                        dict(widths=[6], bn="head", use_bias=False), True),
    "bias into BN-less no-bias target of a BN donor": (
        dict(widths=[4], bn="head", use_bias=False), dict(widths=[6], use_bias=False), False),
    "folded tail BN needs the next layer's bias": (
        dict(widths=[4, 4], bn="tail", use_bias=False),
        dict(widths=[4, 4], use_bias=[False, False], output_bias=False), False),
    "no-bias output layer": (dict(widths=[4]), dict(widths=[4], output_bias=False), False),
    "activation differs": (dict(widths=[4], activation="relu"),
                           dict(widths=[4], activation="tanh"), False),
    "custom function named relu": (dict(widths=[4]),
                                   dict(widths=[4], activation=_relu_lookalike), False),
    "dropout in between": (dict(widths=[4, 3]), dict(widths=[5, 6, 6], dropout=0.5), True),
    "output activation differs": (dict(widths=[4]),
                                  dict(widths=[4], output_activation="sigmoid"), False),
    "hidden softmax widened": (dict(widths=[4], activation="softmax"),
                               dict(widths=[7], activation="softmax"), False),
    "hidden softmax same width, deeper": (dict(widths=[4], activation="softmax"),
                                          dict(widths=[4, 4], activation="softmax"), False),
    "hidden softmax same width": (dict(widths=[4], activation="softmax"),
                                  dict(widths=[4], activation="softmax"), True),
    "BN on both sides, deeper and wider": (dict(widths=[4, 3], bn="tail"),
                                           dict(widths=[6, 5, 8], bn="tail"), True),
    "BN donor only": (dict(widths=[4, 3], bn="tail"), dict(widths=[6, 5]), True),
    "prefix BN on both sides": (dict(widths=[4], prefix_bn=True),
                                dict(widths=[6], prefix_bn=True), True),
    "prefix BN in the donor only": (dict(widths=[4], prefix_bn=True), dict(widths=[6]), False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_can_transfer_iff_transfer_succeeds_exactly(name):
    donor_kwargs, target_kwargs, expected = CASES[name]
    donor, target = chain(**donor_kwargs, seed=1), chain(**target_kwargs, seed=2)
    ok, reason = morph.can_transfer(donor, target)
    assert ok == expected, reason
    assert (reason is None) == ok
    succeeded, outcome = _transfer_outcome(donor, target)
    assert succeeded == ok, f"can_transfer={ok} ({reason}); {outcome}"


def test_no_bias_refusal_names_the_layers():
    ok, reason = morph.can_transfer(chain([4]), chain([6], use_bias=False))
    assert not ok
    assert "'dense_0' has no bias (use_bias=False)" in reason and "donor layer" in reason


def test_can_transfer_does_not_depend_on_weight_values():
    # The tuner asks before loading the donor's checkpoint: fresh zero biases must not pass.
    donor, target = chain([4]), chain([6], use_bias=False)
    for layer in donor.layers:
        if isinstance(layer, keras.layers.Dense):
            layer.set_weights([layer.get_weights()[0], np.zeros(layer.units, "float32")])
    assert morph.can_transfer(donor, target)[0] is False


_EXAMPLES = 4 if os.environ.get("KT_NASREPAIR_MORPH_BACKEND_SUBPROCESS") else 15
layer_spec = st.fixed_dictionaries({
    "activation": st.sampled_from(["relu", "tanh", "linear"]),
    "use_bias": st.booleans(),
    "bn": st.sampled_from([None, "head", "tail"]),
})


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(donor_layers=st.lists(layer_spec, min_size=1, max_size=3),
       target_changes=st.lists(st.tuples(st.booleans(), st.sampled_from([None, "head", "tail"]),
                                         st.integers(0, 3)), min_size=3, max_size=3),
       extra_layers=st.lists(layer_spec, max_size=2), widths=st.tuples(st.integers(2, 5)),
       output_bias=st.tuples(st.booleans(), st.booleans()), seed=st.integers(0, 99))
def test_any_pair_can_transfer_iff_transfer_succeeds(donor_layers, target_changes, extra_layers,
                                                     widths, output_bias, seed):
    # Targets derived from the donor (same activations, other biases, BN placements and
    # widths, maybe extra layers) so that both answers occur.
    count = len(donor_layers)
    target_layers = [dict(spec, use_bias=bias, bn=bn)
                     for spec, (bias, bn, _) in zip(donor_layers, target_changes)] + extra_layers
    donor_widths = [widths[0] + k for k in range(count)]
    target_widths = [w + change[2] for w, change in zip(donor_widths, target_changes)]
    target_widths += [target_widths[-1]] * len(extra_layers)

    def build(specs, layer_widths, bias_out, offset):
        return chain(layer_widths, activation=[s["activation"] for s in specs],
                     use_bias=[s["use_bias"] for s in specs], bn=[s["bn"] for s in specs],
                     output_bias=bias_out, seed=seed + offset)

    donor = build(donor_layers, donor_widths, output_bias[0], 0)
    target = build(target_layers, target_widths, output_bias[1], 1)
    ok, reason = morph.can_transfer(donor, target)
    succeeded, outcome = _transfer_outcome(donor, target)
    assert succeeded == ok, f"can_transfer={ok} ({reason}); {outcome}"


def test_transfer_module_replaces_plan():
    module = importlib.import_module("kt_nasrepair.morph.transfer")
    assert module.can_transfer is morph.can_transfer
    assert module.MorphReport is morph.MorphReport
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("kt_nasrepair.morph.plan")
