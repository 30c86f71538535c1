"""Dormant-unit recycling (ReDo; Sokar et al., ICML 2023, arXiv 2302.12902): the numpy math
(Eq. 1, Algorithm 1) and the walk over a Dense chain. docs/neural_repair.md says which layers."""

from __future__ import annotations

from collections import namedtuple

import keras
import numpy as np

_ACTIVATION_LAYERS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
                      keras.layers.ELU, keras.layers.PReLU)
# Layers acting on each feature alone: a zero row in the next Dense still removes the unit.
_ELEMENTWISE_LAYERS = _ACTIVATION_LAYERS + tuple(getattr(keras.layers, name) for name in (
    "Dropout GaussianNoise GaussianDropout AlphaDropout ActivityRegularization Identity "
    "BatchNormalization").split() if hasattr(keras.layers, name))
_MIXING_ACTIVATIONS = ("softmax", "log_softmax")  # re-initialising a unit changes the others

# `chain`: the layers in call order or None; `sites`: `(dense, scored_index, next_dense)`s.
RepairPlan = namedtuple("RepairPlan", "chain sites reason", defaults=(None,))


def dormant_scores(activations: np.ndarray) -> np.ndarray:
    """ReDo's score (Eq. 1) of each unit of `(batch, ..., units)` activations, as float64."""
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim < 2:
        raise ValueError("`activations` must have shape (batch, ..., units). "
                         f"Received: activations.shape={activations.shape}")
    per_unit = np.abs(activations).reshape(-1, activations.shape[-1]).mean(axis=0)
    # NOTE: 1e-12 guards the 0/0 of an all-silent layer: its units then all score 0 (dormant).
    return per_unit / (per_unit.mean() + 1e-12)


def recycle_units(kernel, bias, next_kernel, dormant, fresh_kernel):
    """New `(kernel, bias, next_kernel)`: fresh columns, zero bias and rows for `dormant`."""
    dormant = np.asarray(dormant, dtype=bool)
    if dormant.shape != (kernel.shape[-1],) or next_kernel.shape[0] != kernel.shape[-1]:
        raise ValueError("`dormant` and `next_kernel` must have one entry, one row per unit. "
                         f"Received: dormant.shape={dormant.shape}, kernel.shape="
                         f"{kernel.shape}, next_kernel.shape={next_kernel.shape}")
    kernel, next_kernel = np.array(kernel), np.array(next_kernel)  # copies
    kernel[..., dormant] = np.asarray(fresh_kernel)[..., dormant]
    next_kernel[dormant] = 0.0
    return kernel, None if bias is None else np.where(dormant, 0, bias), next_kernel


def plan_repairs(model, probe) -> RepairPlan:
    """The repair sites of `model`: a chain if its layers called in turn give `model(probe)`."""
    chain = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if len(getattr(model, "inputs", None) or [None]) != 1 or not chain:
        return RepairPlan(None, [], "it does not have exactly one input")
    reason = "its layers do not form a single chain"
    try:
        chained, direct = _forward_chain(chain, probe)[-1], _forward_chain([model], probe)[0]
        same = chained.shape == direct.shape and np.allclose(chained, direct, 1e-4, 1e-5)
    except Exception as error:  # a branching graph fails in many ways
        return RepairPlan(None, [], f"{reason} ({error})")
    return RepairPlan(chain, _repair_sites(chain)) if same else RepairPlan(None, [], reason)


def recycle_model(plan, probe, threshold, rng, optimizer=None) -> dict:
    """Recycles units scoring `<= threshold` at `plan`'s sites: `{dense_name: count}` in order."""
    if not plan.sites:
        return {}
    outputs, per_layer = _forward_chain(plan.chain, probe), {}
    # Last layer first, so that a zeroed outgoing row is not refilled by a fresh column.
    for dense, scored, next_dense in reversed(plan.sites):
        dormant = dormant_scores(outputs[scored]) <= threshold
        per_layer[dense.name] = int(dormant.sum())
        if not dormant.any():
            continue
        (kernel, *bias), next_weights = dense.get_weights(), next_dense.get_weights()
        kernel, bias, next_weights[0] = recycle_units(
            kernel, bias[0] if bias else None, next_weights[0], dormant, _fresh_kernel(dense, rng))
        dense.set_weights([kernel] + ([bias] if bias is not None else []))
        next_dense.set_weights(next_weights)
        for variable, mask in ((dense.kernel, dormant), (dense.bias, dormant),
                               (next_dense.kernel, dormant[:, None])):
            if variable is not None:
                _zero_slots(optimizer, variable, mask)
    return dict(reversed(per_layer.items()))


def _forward_chain(layers, probe) -> list:
    """The outputs, as numpy, of `layers` called in turn on `probe`."""
    h = np.asarray(probe)
    h = keras.ops.convert_to_tensor(
        h.astype(keras.config.floatx()) if np.issubdtype(h.dtype, np.floating) else h)
    return [keras.ops.convert_to_numpy(h := layer(h, training=False)) for layer in layers]


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation))


def _repair_sites(chain):
    """Each Dense followed by elementwise, non-mixing layers up to the next Dense."""
    dense_at = [i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.Dense)]
    sites = []
    for here, there in zip(dense_at, dense_at[1:]):
        dense, between = chain[here], chain[here + 1:there]
        mixing = any(_activation_name(layer) in _MIXING_ACTIVATIONS for layer in (dense, *between))
        if mixing or getattr(dense, "lora_enabled", False) or not all(
                isinstance(layer, _ELEMENTWISE_LAYERS) for layer in between):
            continue
        after = [i for i in range(here + 1, there) if isinstance(chain[i], _ACTIVATION_LAYERS)]
        # ReDo scores post-activation values: a linear Dense's after the next activation layer.
        scored = after[0] if after and _activation_name(dense) == "linear" else here
        sites.append((dense, scored, chain[there]))
    return sites


def _fresh_kernel(dense, rng):
    """A kernel from the layer's initializer (Glorot uniform if seedless: constant, dead)."""
    initializer, config = dense.kernel_initializer, dense.kernel_initializer.get_config()
    if "seed" not in config:
        initializer, config = keras.initializers.GlorotUniform(), {}
    fresh = initializer.__class__.from_config({**config, "seed": int(rng.integers(2**31 - 1))})
    return keras.ops.convert_to_numpy(fresh(dense.kernel.shape, dtype=dense.kernel.dtype))


def _zero_slots(optimizer, variable, mask):
    """Zeroes `mask` in the slots Keras 3 names `{variable.path, '/' -> '_'}_{slot}`."""
    prefix = variable.path.replace("/", "_") + "_"
    for slot in getattr(optimizer, "variables", ()):  # none without an optimizer
        if slot.name.startswith(prefix) and tuple(slot.shape) == tuple(variable.shape):
            slot.assign(np.where(mask, 0, keras.ops.convert_to_numpy(slot)))
