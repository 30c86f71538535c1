"""Net2WiderNet and Net2DeeperNet on Keras models, and model inspection."""

from __future__ import annotations

from numbers import Integral

import keras
import numpy as np

from kt_nasrepair._validation import check, is_number
from kt_nasrepair.morph import activations
from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph import net2net
from kt_nasrepair.morph.keras_models import NotMorphableError
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD


def check_noise_std(noise_std) -> float:
    check(is_number(noise_std) and noise_std >= 0, "noise_std", noise_std,
          "a finite number >= 0")
    return float(noise_std)


def describe(model: keras.Model) -> list[dict]:
    """Describes the hidden Dense layers of a morphable model.

    Args:
        model: A built Sequential or single-chain functional model.

    Returns:
        One dict per hidden Dense layer, in order: `name`, `units`, `activation` (of the
        Dense layer itself), `batch_norm` (whether a BatchNormalization follows it) and
        `dropout` (the rate of a following Dropout, or `None`).

    Raises:
        NotMorphableError: when the model holds unsupported layers or is not a chain.

    Example:

    ```python
    describe(model)  # [{"name": "dense_0", "units": 64, "activation": "relu", ...}]
    ```
    """
    chain = km.parse_model(model)
    layers = []
    for block in chain.hidden:
        kinds = [type(layer).__name__ for layer in block.post]
        dropout = [layer.rate for layer in block.post if type(layer).__name__ == "Dropout"]
        layers.append({
            "name": block.dense.name,
            "units": block.units,
            "activation": km.activation_name(block.dense.activation),
            "batch_norm": "BatchNormalization" in kinds,
            "dropout": float(dropout[0]) if dropout else None,
        })
    return layers


def hidden_widths(model: keras.Model) -> list[int]:
    """Widths of the hidden Dense layers of a morphable model.

    Raises:
        NotMorphableError: when the model holds unsupported layers or is not a chain.
    """
    return [block.units for block in km.parse_model(model).hidden]


def _fresh_layers(chain):
    """Fresh copies of the chain's layers and their current weights (`None`: no weights)."""
    layers, weights = [], []
    for layer in chain.prefix + [l for b in chain.blocks for l in [b.dense] + b.post]:
        layers.append(km.clone_layer(layer))
        weights.append(layer.get_weights() or None)
    return layers, weights


def widen(
    model: keras.Model,
    layer: str | int,
    units: int,
    *,
    noise_std: float = DEFAULT_NOISE_STD,
    seed: int | None = None,
) -> keras.Model:
    """Net2WiderNet: a wider copy of `model` that computes the same function.

    Hidden Dense layer `layer` grows to `units` outputs. The new units copy randomly chosen
    existing ones (the random mapping `g` of Chen, Goodfellow & Shlens, ICLR 2016, eq. 6),
    a following BatchNormalization has its gamma, beta, moving mean and moving variance
    copied along, and the next Dense layer's incoming weights from each copied unit are
    divided by the number of copies. Zero-sum noise on those incoming weights breaks the
    symmetry of the copies without changing the function (see `net2net.zero_sum_noise`).

    Args:
        model: A built Sequential or single-chain functional model (not modified).
        layer: Name of a hidden Dense layer, or its index among the hidden Dense layers.
        units: New width, at least the current one.
        noise_std: Symmetry-breaking noise, relative to the standard deviation of the next
            layer's kernel. Defaults to `DEFAULT_NOISE_STD`.
        seed: Seed of the random mapping and the noise.

    Returns:
        A new model of the same kind (compiled with a fresh optimizer if `model` was).

    Raises:
        NotMorphableError: for unsupported models, an unknown or output layer, `units`
            below the current width, or a layer whose activation mixes units (softmax).

    Example:

    ```python
    wider = widen(model, "dense_0", 128, seed=0)
    ```
    """
    noise_std = check_noise_std(noise_std)
    chain = km.parse_model(model)
    index, block = km.hidden_block(chain, layer)
    if not isinstance(units, Integral) or isinstance(units, bool):
        raise TypeError(f"`units` must be an integer. Received: units={units!r}")
    if units < block.units:
        raise NotMorphableError(
            f"Cannot widen layer {block.dense.name!r} from {block.units} to {units} units: "
            "Net2WiderNet only grows layers (shrinking is not function-preserving). "
            f"Received: units={units}"
        )
    for source in [block.dense] + block.post:
        reason = activations.mixing_reason(getattr(source, "activation", None))
        if reason is not None:
            raise NotMorphableError(
                f"Cannot widen layer {block.dense.name!r}: {reason}; Net2Net widening is only "
                "exact for element-wise activations."
            )
    rng = np.random.default_rng(seed)
    mapping = net2net.random_mapping(block.units, int(units), rng)
    layers, weights = _fresh_layers(chain)
    flat = chain.prefix + [l for b in chain.blocks for l in [b.dense] + b.post]
    next_dense = chain.blocks[index + 1].dense
    for position, source in enumerate(flat):
        if source is block.dense:
            layers[position] = km.clone_layer(source, units=int(units))
            kernel, bias = km.dense_weights(source)
            kernel, bias = net2net.remap_dense(
                kernel, bias, net2net.identity_mapping(kernel.shape[0]), mapping
            )
            weights[position] = [kernel, bias] if source.use_bias else [kernel]
        elif source in block.post and type(source).__name__ == "BatchNormalization":
            vectors = [v[mapping] for v in km.batchnorm_weights(source)]
            weights[position] = km.batchnorm_weight_list(source, *vectors)
        elif source is next_dense:
            kernel, bias = km.dense_weights(source)
            kernel, bias = net2net.remap_dense(
                kernel, bias, mapping, net2net.identity_mapping(kernel.shape[1]),
                noise_std=noise_std, rng=rng,
            )
            weights[position] = [kernel, bias] if source.use_bias else [kernel]
    return km.rebuild(chain, layers, weights)


def insertion_point(block, activation: str) -> int | None:
    """Where in a block an identity Dense layer with `activation` is exact, or `None`.

    Returns the number of post layers to keep before the inserted layer: the latest
    position whose values lie where `activation` is the identity (e.g. a ReLU identity
    layer goes before a BatchNormalization that follows a ReLU, because the normalised
    values can be negative).
    """
    value_range = km.activation_range(km.activation_name(block.dense.activation))
    ranges = [value_range]
    for layer in block.post:
        kind = type(layer).__name__
        if kind == "Activation":
            value_range = km.activation_range(km.activation_name(layer.activation), value_range)
        elif kind == "BatchNormalization":
            value_range = km.REAL_LINE
        ranges.append(value_range)
    for position in range(len(ranges) - 1, -1, -1):
        if km.is_identity_on(activation, ranges[position]):
            return position
    return None


def _unique_name(base: str, taken: set) -> str:
    name, suffix = base, 1
    while name in taken:
        suffix += 1
        name = f"{base}_{suffix}"
    return name


def deepen(
    model: keras.Model,
    after: str | int,
    *,
    activation: str | None = None,
    noise_std: float = DEFAULT_NOISE_STD,
    seed: int | None = None,
) -> keras.Model:
    """Net2DeeperNet: inserts an identity-initialised Dense layer after a hidden layer.

    The new layer has the width of `after`, kernel `I` and bias 0 (Chen, Goodfellow &
    Shlens, ICLR 2016, section 2.3). It reproduces its input exactly when its activation
    `f` satisfies `f(x) = x` for every value it receives: true for `linear` everywhere, and
    for `relu` (`relu6`) on the non-negative outputs of a ReLU-like (sigmoid, softmax)
    activation. The layer goes at the end of `after`'s block (after its Dropout/Activation
    layers) when that is exact there, otherwise at the latest exact position (e.g. between
    a ReLU Dense and the BatchNormalization that follows it).

    An identity layer has no copied units, so there is no symmetry to break: `noise_std`
    and `seed` are accepted for symmetry with `widen` and the result is exact.

    Args:
        model: A built Sequential or single-chain functional model (not modified).
        after: Name of a hidden Dense layer, or its index among the hidden Dense layers.
        activation: Activation of the new layer; `None` (default) means the activation of
            `after`, allowed only when it makes the layer exact.
        noise_std: Accepted for symmetry with `widen` (must be >= 0).
        seed: Accepted for symmetry with `widen`.

    Returns:
        A new model of the same kind (compiled with a fresh optimizer if `model` was).

    Raises:
        NotMorphableError: for unsupported models or when no exact identity layer with that
            activation exists (e.g. `tanh`), with the reason.

    Example:

    ```python
    deeper = deepen(model, "dense_1")  # a ReLU identity layer after dense_1
    ```
    """
    check_noise_std(noise_std)
    del seed
    chain = km.parse_model(model)
    _, block = km.hidden_block(chain, after)
    if activation is None:
        activation = km.activation_name(block.dense.activation)
    elif not isinstance(activation, str):
        raise TypeError(
            "`activation` must be None or an activation name such as 'relu' or 'linear'. "
            f"Received: activation={activation!r}"
        )
    else:
        try:
            activation = km.activation_name(keras.activations.get(activation))
        except ValueError:
            raise ValueError(
                "`activation` must be None or a Keras activation name such as 'relu' or "
                f"'linear'. Received: activation={activation!r}"
            ) from None
    position = insertion_point(block, activation)
    if position is None:
        reason = (
            f"activation {activation!r} is not idempotent, so an identity-initialised "
            f"{activation} layer changes its inputs"
            if activation not in ("relu", "relu6", "linear")
            else f"{activation} is not the identity on the values that layer "
            f"{block.dense.name!r} outputs (they can be negative or unbounded)"
        )
        raise NotMorphableError(
            f"Cannot deepen after {block.dense.name!r} with activation={activation!r}: "
            f"{reason}. Pass activation='linear' to insert a linear identity layer."
        )
    layers, weights = _fresh_layers(chain)
    flat = chain.prefix + [l for b in chain.blocks for l in [b.dense] + b.post]
    anchor = ([block.dense] + block.post)[position]
    insert_at = flat.index(anchor) + 1
    taken = {layer.name for layer in flat}
    new_layer = keras.layers.Dense(
        block.units,
        activation=activation,
        name=_unique_name(f"{block.dense.name}_identity", taken),
        dtype=block.dense.dtype_policy,
    )
    layers.insert(insert_at, new_layer)
    weights.insert(insert_at, list(net2net.identity_dense(block.units)))
    return km.rebuild(chain, layers, weights)
