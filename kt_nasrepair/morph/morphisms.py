"""Net2WiderNet and Net2DeeperNet on Keras models, and model inspection (docs/morph.md)."""

from __future__ import annotations

import keras
import numpy as np

from kt_nasrepair._validation import check, is_int, is_number
from kt_nasrepair.morph import activations as act
from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph import net2net
from kt_nasrepair.morph.keras_models import NotMorphableError
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD


def check_noise_std(noise_std) -> float:
    check(is_number(noise_std) and noise_std >= 0, "noise_std", noise_std, "a finite number >= 0")
    return float(noise_std)


def describe(model: keras.Model) -> list[dict]:
    """Describes the hidden Dense layers of a built Sequential or single-chain model.

    Returns:
        One dict per hidden Dense layer: `name`, `units`, `activation` (the Dense layer's),
        `batch_norm` (whether one follows) and `dropout` (a following Dropout's rate, or None).
    """
    return [{"name": block.dense.name, "units": block.units,
             "activation": act.activation_name(block.dense.activation),
             "batch_norm": bool(km.batchnorms(block.post)),
             "dropout": next((float(layer.rate) for layer in block.post
                              if type(layer).__name__ == "Dropout"), None)}
            for block in km.parse_model(model).blocks[:-1]]


def hidden_widths(model: keras.Model) -> list[int]:
    """Widths of the hidden Dense layers of a morphable model (else NotMorphableError)."""
    return [block.units for block in km.parse_model(model).blocks[:-1]]


def _fresh_layers(chain):
    """The chain's layers, fresh copies, and their weights (`None`: none)."""
    flat = km.chain_layers(chain)
    return flat, [km.clone_layer(l) for l in flat], [l.get_weights() or None for l in flat]


def widen(model: keras.Model, layer: str | int, units: int, *,
          noise_std: float = DEFAULT_NOISE_STD, seed: int | None = None) -> keras.Model:
    """Net2WiderNet: a wider copy of `model` (same kind, fresh optimizer), same function.

    Args:
        model: A built Sequential or single-chain functional model (not modified).
        layer: Name of a hidden Dense layer, or its index among the hidden Dense layers.
        units: New width, at least the current one.
        noise_std: Zero-sum symmetry-breaking noise, relative to the std of the next layer's
            kernel. Defaults to `DEFAULT_NOISE_STD`.
        seed: Seed of the random mapping and the noise.

    Raises:
        NotMorphableError: for unsupported models, an unknown or output layer, `units`
            below the current width, or a layer whose activation mixes units (softmax).
    """
    noise_std = check_noise_std(noise_std)
    chain = km.parse_model(model)
    index, block = km.hidden_block(chain, layer)
    name = block.dense.name
    if not is_int(units):
        raise TypeError(f"`units` must be an integer. Received: units={units!r}")
    if units < block.units:
        raise NotMorphableError(
            f"Cannot widen layer {name!r} from {block.units} to {units} units: Net2WiderNet "
            f"only grows layers (shrinking is not function-preserving). Received: units={units}")
    reason = next(filter(None, (act.mixing_reason(getattr(source, "activation", None))
                                for source in [block.dense] + block.post)), None)
    if reason is not None:
        raise NotMorphableError(f"Cannot widen layer {name!r}: {reason}; Net2Net widening is "
                                "only exact for element-wise activations.")
    rng = np.random.default_rng(seed)
    mapping = net2net.random_mapping(block.units, int(units), rng)
    flat, layers, weights = _fresh_layers(chain)
    position = flat.index(block.dense)
    layers[position] = km.clone_layer(block.dense, units=int(units))
    kernel, bias = km.dense_weights(block.dense)
    weights[position] = km.weight_list(block.dense, *net2net.remap_dense(
        kernel, bias, net2net.identity_mapping(kernel.shape[0]), mapping))
    for bn in km.batchnorms(block.post):
        weights[flat.index(bn)] = km.weight_list(
            bn, *(v[mapping] for v in km.batchnorm_weights(bn)))
    next_dense = chain.blocks[index + 1].dense
    kernel, bias = km.dense_weights(next_dense)
    weights[flat.index(next_dense)] = km.weight_list(next_dense, *net2net.remap_dense(
        kernel, bias, mapping, net2net.identity_mapping(kernel.shape[1]), noise_std=noise_std,
        rng=rng))
    return km.rebuild(chain, layers, weights)


def insertion_point(block, activation: str) -> int | None:
    """The latest count of `block`'s post layers after which `activation` is the identity."""
    value_range = act.activation_range(act.activation_name(block.dense.activation))
    exact = None if not act.is_identity_on(activation, value_range) else 0
    for i, layer in enumerate(block.post, 1):
        kind = type(layer).__name__
        if kind == "Activation":
            value_range = act.activation_range(act.activation_name(layer.activation), value_range)
        elif kind == "BatchNormalization":
            value_range = act.REAL_LINE
        if act.is_identity_on(activation, value_range):
            exact = i
    return exact


def _activation_name(activation) -> str:
    try:
        if isinstance(activation, str):
            return act.activation_name(keras.activations.get(activation))
    except ValueError:
        pass
    raise (ValueError if isinstance(activation, str) else TypeError)(
        "`activation` must be None or a Keras activation name such as 'relu' or 'linear'. "
        f"Received: activation={activation!r}") from None


def deepen(model: keras.Model, after: str | int, *, activation: str | None = None,
           noise_std: float = DEFAULT_NOISE_STD, seed: int | None = None) -> keras.Model:
    """Net2DeeperNet: a copy of `model` with an identity-initialised Dense layer after `after`.

    Args:
        model: A built Sequential or single-chain functional model (not modified).
        after: Name of a hidden Dense layer, or its index among the hidden Dense layers.
        activation: Activation of the new layer; `None` (default): that of `after`.
        noise_std: Accepted for symmetry with `widen` (must be >= 0); nothing is copied.
        seed: Accepted for symmetry with `widen`.

    Raises:
        NotMorphableError: for unsupported models or when no exact identity layer with that
            activation exists (e.g. `tanh`), with the reason.
    """
    check_noise_std(noise_std)
    chain = km.parse_model(model)
    _, block = km.hidden_block(chain, after)
    name = block.dense.name
    activation = (act.activation_name(block.dense.activation) if activation is None
                  else _activation_name(activation))
    position = insertion_point(block, activation)
    if position is None:
        reason = (f"{activation} is not the identity on the values that layer {name!r} "
                  "outputs (they can be negative or unbounded)"
                  if activation in ("relu", "relu6", "linear") else
                  f"activation {activation!r} is not idempotent, so an identity-initialised "
                  f"{activation} layer changes its inputs")
        raise NotMorphableError(
            f"Cannot deepen after {name!r} with activation={activation!r}: {reason}. Pass "
            "activation='linear' to insert a linear identity layer.")
    flat, layers, weights = _fresh_layers(chain)
    insert_at = flat.index(([block.dense] + block.post)[position]) + 1
    taken, new_name, suffix = {layer.name for layer in flat}, f"{name}_identity", 1
    while new_name in taken:
        new_name, suffix = f"{name}_identity_{suffix + 1}", suffix + 1
    layers.insert(insert_at, keras.layers.Dense(
        block.units, activation=activation, dtype=block.dense.dtype_policy, name=new_name))
    weights.insert(insert_at, list(net2net.identity_dense(block.units)))
    return km.rebuild(chain, layers, weights)
