"""Dormant-unit recycling (ReDo): the numpy math and the walk over a Dense chain.

References:
    Sokar, Agarwal, Castro & Evci, "The Dormant Neuron Phenomenon in Deep Reinforcement
    Learning", ICML 2023 (arXiv 2302.12902): Eq. 1 (the tau-dormant score), Algorithm 1.
"""

from __future__ import annotations

from collections import namedtuple

import keras
import numpy as np

# NOTE: guards the 0/0 of a layer whose units are all silent; with it every
# score of such a layer is 0, so the whole layer counts as dormant.
_SCORE_EPSILON = 1e-12

# Layers acting on each feature alone: zeroing a unit's row in the next Dense still removes
# the unit from the network's function.
_ELEMENTWISE_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in ("Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                 "ActivityRegularization", "Identity", "BatchNormalization",
                 "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU")
    if hasattr(keras.layers, name)
)
_ACTIVATION_LAYERS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
                      keras.layers.ELU, keras.layers.PReLU)
# Activations that mix units: re-initialising one unit would change the others.
_MIXING_ACTIVATIONS = ("softmax", "log_softmax")

# `chain`: the layers in call order (None when not a chain); `sites`: one
# `(dense, scored_index, next_dense)` per repairable hidden Dense; `reason`: why none is.
RepairPlan = namedtuple("RepairPlan", "chain sites reason", defaults=(None,))


def dormant_scores(activations: np.ndarray) -> np.ndarray:
    """`s_i = E_x |h_i(x)| / ((1/H) sum_j E_x |h_j(x)|)` per unit (ReDo, Eq. 1), as float64.

    `activations` is `(batch, ..., units)`, averaged over every axis but the last; the scores
    have mean 1 unless the whole layer is silent (all 0). `s_i <= tau`: unit `i` is dormant.
    """
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim < 2:
        raise ValueError("`activations` must have shape (batch, ..., units). "
                         f"Received: activations.shape={activations.shape}")
    per_unit = np.abs(activations).reshape(-1, activations.shape[-1]).mean(axis=0)
    return per_unit / (per_unit.mean() + _SCORE_EPSILON)


def recycle_units(kernel, bias, next_kernel, dormant, fresh_kernel):
    """New `(kernel, bias, next_kernel)` with the `dormant` units recycled (ReDo, Alg. 1).

    Dormant unit `i` gets the column `fresh_kernel[:, i]` (`(fan_in, units)`, drawn from the
    layer's initializer), bias 0 and a zero row in `next_kernel` (`(units, next_units)`): the
    network's function is unchanged at the moment of repair. `bias` may be `None`.
    """
    dormant = np.asarray(dormant, dtype=bool)
    units = kernel.shape[-1]
    if dormant.shape != (units,) or next_kernel.shape[0] != units:
        raise ValueError(
            "`dormant` must have one entry per unit and `next_kernel` one row per unit. "
            f"Received: dormant.shape={dormant.shape}, kernel.shape={kernel.shape}, "
            f"next_kernel.shape={next_kernel.shape}"
        )
    kernel, next_kernel = np.array(kernel, copy=True), np.array(next_kernel, copy=True)
    kernel[..., dormant] = np.asarray(fresh_kernel)[..., dormant]
    next_kernel[dormant, ...] = 0.0
    if bias is not None:
        bias = np.array(bias, copy=True)
        bias[dormant] = 0.0
    return kernel, bias, next_kernel


def plan_repairs(model, probe) -> RepairPlan:
    """Finds the repairable Dense layers of `model`.

    The layers count as a chain only if calling them one after the other on `probe`
    reproduces `model(probe)`, which rules out branches and skips whatever the graph looks like.
    """
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(getattr(model, "inputs", None) or [None]) != 1 or not chain:
        return RepairPlan(None, [], "it does not have exactly one input")
    try:
        chained = _forward_chain(chain, probe)[-1]
        direct = keras.ops.convert_to_numpy(model(_as_tensor(probe), training=False))
        same = chained.shape == direct.shape and np.allclose(chained, direct,
                                                             rtol=1e-4, atol=1e-5)
    except Exception as error:  # a branching graph fails in many ways
        return RepairPlan(None, [], f"its layers do not form a single chain ({error})")
    if not same:
        return RepairPlan(None, [], "its layers do not form a single chain")
    return RepairPlan(chain, _repair_sites(chain))


def recycle_model(plan, probe, threshold, rng, optimizer=None) -> dict:
    """Recycles the units with `dormant_scores <= threshold` at every site of `plan`.

    The optimizer's slots (Adam's moments...) of the recycled entries are zeroed, so the
    fresh weights do not inherit the dead units' update history.

    Returns:
        `{dense_layer_name: recycled_unit_count}` in chain order.
    """
    if not plan.sites:
        return {}
    outputs = _forward_chain(plan.chain, probe)
    per_layer = {}
    # Last layer first: a zeroed outgoing row must not be overwritten by the fresh
    # incoming column of a dormant unit of the next layer.
    for dense, scored, next_dense in reversed(plan.sites):
        dormant = dormant_scores(outputs[scored]) <= threshold
        if dormant.any():
            weights, next_weights = dense.get_weights(), next_dense.get_weights()
            bias = weights[1] if len(weights) > 1 else None
            kernel, bias, next_weights[0] = recycle_units(
                weights[0], bias, next_weights[0], dormant, _fresh_kernel(dense, rng))
            dense.set_weights([kernel] + ([bias] if bias is not None else []))
            next_dense.set_weights(next_weights)
            _zero_slots(optimizer, dense.kernel, (Ellipsis, dormant))
            if bias is not None:
                _zero_slots(optimizer, dense.bias, (dormant,))
            _zero_slots(optimizer, next_dense.kernel, (dormant, Ellipsis))
        per_layer[dense.name] = int(dormant.sum())
    return dict(reversed(per_layer.items()))


def _forward_chain(chain, probe) -> list:
    outputs, h = [], _as_tensor(probe)
    for layer in chain:
        h = layer(h, training=False)
        outputs.append(keras.ops.convert_to_numpy(h))
    return outputs


def _as_tensor(probe):
    probe = np.asarray(probe)
    if np.issubdtype(probe.dtype, np.floating):
        probe = probe.astype(keras.config.floatx())
    return keras.ops.convert_to_tensor(probe)


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation))


def _repair_sites(chain):
    """`(dense, scored_index, next_dense)` for every repairable hidden Dense.

    Only elementwise layers may separate it from the next Dense, and none may mix units.
    ReDo scores post-activation values: a linear Dense is scored after the first activation
    layer that follows it.
    """
    dense_indices = [i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.Dense)]
    sites = []
    for here, there in zip(dense_indices, dense_indices[1:]):
        dense, between = chain[here], chain[here + 1:there]
        if (getattr(dense, "lora_enabled", False)
                or not all(isinstance(layer, _ELEMENTWISE_LAYERS) for layer in between)
                or any(_activation_name(layer) in _MIXING_ACTIVATIONS
                       for layer in (dense, *between))):
            continue
        scored = here
        if _activation_name(dense) == "linear":
            scored = next((here + offset for offset, layer in enumerate(between, start=1)
                           if isinstance(layer, _ACTIVATION_LAYERS)), here)
        sites.append((dense, scored, chain[there]))
    return sites


def _fresh_kernel(dense, rng):
    """A full kernel (keeping the fan-in/fan-out scaling) from the layer's initializer."""
    initializer = dense.kernel_initializer
    config = initializer.get_config()
    if "seed" not in config:
        # A constant initializer would leave the units dead: use Keras's default.
        initializer, config = keras.initializers.GlorotUniform(), {}
    config["seed"] = int(rng.integers(2**31 - 1))
    fresh = initializer.__class__.from_config(config)
    return keras.ops.convert_to_numpy(fresh(dense.kernel.shape, dtype=dense.kernel.dtype))


def _zero_slots(optimizer, variable, index):
    """Zeroes `index` of the optimizer's per-weight slots of `variable`.

    Keras 3 names a slot `{variable.path with '/' -> '_'}_{slot}` and gives it the variable's
    shape (`Optimizer.add_variable_from_reference`).
    """
    if optimizer is None:
        return
    prefix = variable.path.replace("/", "_") + "_"
    for slot in optimizer.variables:
        if slot.name.startswith(prefix) and tuple(slot.shape) == tuple(variable.shape):
            values = np.array(keras.ops.convert_to_numpy(slot), copy=True)
            values[index] = 0
            slot.assign(values)
