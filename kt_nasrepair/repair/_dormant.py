"""Dormant-unit recycling (ReDo): the numpy math and the walk over a Dense chain.

References:
    Sokar, Agarwal, Castro & Evci, "The Dormant Neuron Phenomenon in Deep
    Reinforcement Learning", ICML 2023 (arXiv 2302.12902), Section 3 (Eq. 1,
    the tau-dormant score) and Algorithm 1 (ReDo: re-initialise incoming
    weights, zero outgoing weights).
"""

from __future__ import annotations

import keras
import numpy as np

# NOTE: guards the 0/0 of a layer whose units are all silent; with it every
# score of such a layer is 0, so the whole layer counts as dormant.
_SCORE_EPSILON = 1e-12


def dormant_scores(activations: np.ndarray) -> np.ndarray:
    """Normalised activity score of every unit of one layer (ReDo, Eq. 1).

    `s_i = E_x |h_i(x)| / ((1/H) sum_j E_x |h_j(x)|)`: the mean absolute
    activation of unit `i` over the probe batch divided by the layer's mean of
    the same quantity. A unit with `s_i <= tau` is "tau-dormant".

    Args:
        activations: array of shape `(..., units)`; every axis but the last is
            averaged over (batch, and time steps for sequence inputs).

    Returns:
        Float64 array of shape `(units,)`, non-negative, with mean 1 unless
        the whole layer is silent (then all zeros).
    """
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim < 2:
        raise ValueError(
            "`activations` must have shape (batch, ..., units). "
            f"Received: activations.shape={activations.shape}"
        )
    per_unit = np.abs(activations).reshape(-1, activations.shape[-1]).mean(axis=0)
    return per_unit / (per_unit.mean() + _SCORE_EPSILON)


def recycle_units(
    kernel: np.ndarray,
    bias: np.ndarray | None,
    next_kernel: np.ndarray,
    dormant: np.ndarray,
    fresh_kernel: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Re-initialise dormant units of `kernel` and silence their outgoing rows.

    Dormant unit `i` gets the fresh incoming column `fresh_kernel[:, i]`, bias
    0, and its row of `next_kernel` set to 0 (ReDo, Algorithm 1). As the next
    layer ignores the unit, the network's function is unchanged at the moment
    of repair, while gradients reach the fresh incoming weights again through
    the outgoing weights as soon as those move away from zero.

    Args:
        kernel: `(fan_in, units)` incoming kernel.
        bias: `(units,)` bias, or `None` for a layer without bias.
        next_kernel: `(units, next_units)` kernel of the consuming Dense.
        dormant: boolean mask of shape `(units,)`.
        fresh_kernel: `(fan_in, units)` draw from the layer's initializer.

    Returns:
        `(kernel, bias, next_kernel)`: new arrays; the inputs are not changed.
    """
    dormant = np.asarray(dormant, dtype=bool)
    units = kernel.shape[-1]
    if dormant.shape != (units,) or next_kernel.shape[0] != units:
        raise ValueError(
            "`dormant` must have one entry per unit and `next_kernel` one row "
            f"per unit. Received: dormant.shape={dormant.shape}, "
            f"kernel.shape={kernel.shape}, next_kernel.shape={next_kernel.shape}"
        )
    kernel = np.array(kernel, copy=True)
    next_kernel = np.array(next_kernel, copy=True)
    kernel[..., dormant] = np.asarray(fresh_kernel)[..., dormant]
    next_kernel[dormant, ...] = 0.0
    if bias is not None:
        bias = np.array(bias, copy=True)
        bias[dormant] = 0.0
    return kernel, bias, next_kernel


# ------------------------------------------------------------ model walking

# Layers that act on each feature independently: a unit's value passes through
# them without touching its neighbours, so zeroing the unit's row in the next
# Dense still removes it from the network's function.
_ELEMENTWISE_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in (
        "Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout",
        "ActivityRegularization", "Identity", "BatchNormalization",
        "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU",
    )
    if hasattr(keras.layers, name)
)
_ACTIVATION_LAYERS = (
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.ELU, keras.layers.PReLU,
)
# Activations that mix units: re-initialising one unit would change the others.
_MIXING_ACTIVATIONS = ("softmax", "log_softmax")


class RepairPlan:
    """Where units of one model can be recycled.

    Attributes:
        chain: the model's layers in call order, or `None` when the model is
            not a single-input chain.
        sites: `(dense, score_index, next_dense)` per repairable hidden Dense;
            `score_index` is the chain position whose output is scored.
        reason: why nothing can be repaired, or `None`.
    """

    def __init__(self, chain, sites, reason=None):
        self.chain, self.sites, self.reason = chain, sites, reason


def plan_repairs(model, probe) -> RepairPlan:
    """Finds the repairable Dense layers of `model`.

    The layers are called one after the other on `probe`; the model counts as
    a chain only if that reproduces `model(probe)`, which rules out branches
    and skips whatever the graph API looks like.
    """
    chain = [
        layer for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    if len(getattr(model, "inputs", None) or [None]) != 1 or not chain:
        return RepairPlan(None, [], "it does not have exactly one input")
    try:
        chained = forward_chain(chain, probe)[-1]
        direct = keras.ops.convert_to_numpy(model(_as_tensor(probe), training=False))
        same = chained.shape == direct.shape and np.allclose(
            chained, direct, rtol=1e-4, atol=1e-5
        )
    except Exception as error:  # a branching graph fails in many ways
        return RepairPlan(None, [], f"its layers do not form a single chain ({error})")
    if not same:
        return RepairPlan(None, [], "its layers do not form a single chain")
    return RepairPlan(chain, _repair_sites(chain))


def forward_chain(chain, probe) -> list:
    """Numpy outputs of every layer of `chain` on `probe`, in inference mode."""
    outputs, h = [], _as_tensor(probe)
    for layer in chain:
        h = layer(h, training=False)
        outputs.append(keras.ops.convert_to_numpy(h))
    return outputs


def recycle_model(plan, probe, threshold, rng, optimizer=None) -> dict:
    """Recycles the tau-dormant units of every site of `plan` (ReDo, Alg. 1).

    Args:
        plan: a `RepairPlan` from `plan_repairs`.
        probe: numpy batch of model inputs.
        threshold: tau; units with `dormant_scores <= tau` are recycled.
        rng: `np.random.Generator` seeding the fresh kernels.
        optimizer: the model's optimizer; its per-weight slots of recycled
            entries are zeroed.

    Returns:
        `{dense_layer_name: recycled_unit_count}` in chain order.
    """
    if not plan.sites:
        return {}
    outputs = forward_chain(plan.chain, probe)
    per_layer = {}
    # Last layer first: a unit's zeroed outgoing row must not be overwritten
    # by the fresh incoming column of a dormant unit in the next layer.
    for dense, score_index, next_dense in reversed(plan.sites):
        dormant = dormant_scores(outputs[score_index]) <= threshold
        if dormant.any():
            _recycle_site(dense, next_dense, dormant, optimizer, rng)
        per_layer[dense.name] = int(dormant.sum())
    return dict(reversed(per_layer.items()))


def slot_variables(optimizer, variable) -> list:
    """The optimizer's per-weight slots (e.g. Adam moments) for `variable`.

    Keras 3 names a slot `{variable.path with '/' -> '_'}_{slot}` and gives it
    the variable's shape (`Optimizer.add_variable_from_reference`).
    """
    if optimizer is None or not hasattr(variable, "path"):
        return []
    prefix = variable.path.replace("/", "_") + "_"
    return [
        slot for slot in optimizer.variables
        if slot.name.startswith(prefix) and tuple(slot.shape) == tuple(variable.shape)
    ]


def _as_tensor(probe):
    probe = np.asarray(probe)
    if np.issubdtype(probe.dtype, np.floating):
        probe = probe.astype(keras.config.floatx())
    return keras.ops.convert_to_tensor(probe)


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation))


def _repair_sites(chain):
    """`(dense, score_index, next_dense)` for every repairable hidden Dense.

    A Dense is repairable when only elementwise layers separate it from the
    next Dense and neither mixes units (softmax). Units are scored after the
    Dense's own activation or, for a linear Dense, after the first activation
    layer that follows it (ReDo scores post-activation values).
    """
    dense_indices = [
        i for i, layer in enumerate(chain) if isinstance(layer, keras.layers.Dense)
    ]
    sites = []
    for here, there in zip(dense_indices, dense_indices[1:]):
        dense, between = chain[here], chain[here + 1:there]
        if getattr(dense, "lora_enabled", False):
            continue
        if _activation_name(dense) in _MIXING_ACTIVATIONS:
            continue
        if not all(isinstance(layer, _ELEMENTWISE_LAYERS) for layer in between):
            continue
        if any(_activation_name(layer) in _MIXING_ACTIVATIONS for layer in between):
            continue
        score_index = here
        if _activation_name(dense) == "linear":
            for offset, layer in enumerate(between, start=1):
                if isinstance(layer, _ACTIVATION_LAYERS):
                    score_index = here + offset
                    break
        sites.append((dense, score_index, chain[there]))
    return sites


def _recycle_site(dense, next_dense, dormant, optimizer, rng):
    weights = dense.get_weights()
    kernel, bias = weights[0], (weights[1] if len(weights) > 1 else None)
    next_weights = next_dense.get_weights()
    kernel, bias, next_weights[0] = recycle_units(
        kernel, bias, next_weights[0], dormant, _fresh_kernel(dense, kernel, rng)
    )
    dense.set_weights([kernel] + ([bias] if bias is not None else []))
    next_dense.set_weights(next_weights)
    # Zero the optimizer slots (Adam moments...) of the recycled entries so the
    # fresh weights do not inherit the dead units' update history.
    _zero_slots(optimizer, dense.kernel, (Ellipsis, dormant))
    if bias is not None:
        _zero_slots(optimizer, dense.bias, (dormant,))
    _zero_slots(optimizer, next_dense.kernel, (dormant, Ellipsis))


def _fresh_kernel(dense, kernel, rng):
    """A full kernel drawn from the layer's initializer with a seed from `rng`.

    Drawing the full shape keeps the initializer's fan-in/fan-out scaling.
    """
    initializer = dense.kernel_initializer
    config = initializer.get_config()
    if "seed" not in config:
        # A constant initializer would leave the units dead: use Keras's default.
        initializer, config = keras.initializers.GlorotUniform(), {}
    config["seed"] = int(rng.integers(2**31 - 1))
    fresh = initializer.__class__.from_config(config)
    return keras.ops.convert_to_numpy(fresh(kernel.shape, dtype=str(kernel.dtype)))


def _zero_slots(optimizer, variable, index):
    for slot in slot_variables(optimizer, variable):
        values = np.array(keras.ops.convert_to_numpy(slot), copy=True)
        values[index] = 0
        slot.assign(values)
