"""Keras model <-> chain of layers: parsing, numpy forward pass and rebuilding.

A morphable model is a single chain `Input -> prefix -> block_0 -> ... -> block_L` where the
prefix holds `Flatten`/`Reshape`/`Dropout`/`BatchNormalization`/`Activation` layers and each
block is one `Dense` layer followed by any number of `Activation`, `Dropout` and
`BatchNormalization` layers. The last block is the output layer; the others are *hidden*.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

SUPPORTED_LAYERS = ("InputLayer", "Flatten", "Reshape", "Dense", "Activation", "Dropout",
                    "BatchNormalization")
_ELEMENTWISE = ("Activation", "Dropout", "BatchNormalization")

# Value ranges of activations, and the sets on which an activation is the identity
# (the values an identity-initialised layer with that activation reproduces exactly).
_INF = math.inf
_RANGES = {
    "linear": None,  # keeps the range of its input
    "relu": (0.0, _INF),
    "relu6": (0.0, 6.0),
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "softmax": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softplus": (0.0, _INF),
    "elu": (-1.0, _INF),
}
_FIXED_SETS = {"linear": (-_INF, _INF), "relu": (0.0, _INF), "relu6": (0.0, 6.0)}
REAL_LINE = (-_INF, _INF)


class NotMorphableError(ValueError):
    """A model, layer or pair of models that the Net2Net morphisms cannot handle."""


def activation_name(fn) -> str:
    """Name of a Keras activation function (`"linear"` for `None`)."""
    if fn is None:
        return "linear"
    name = getattr(fn, "__name__", None)
    if name is None:
        name = keras.activations.serialize(fn)
    return str(name) if not isinstance(name, dict) else str(name.get("class_name", name))


def activation_range(name: str, input_range=REAL_LINE):
    """Interval containing the outputs of activation `name` (conservative)."""
    if name == "linear":
        return input_range
    return _RANGES.get(name, REAL_LINE)


def is_identity_on(name: str, value_range) -> bool:
    """Whether activation `name` leaves every value of `value_range` unchanged."""
    fixed = _FIXED_SETS.get(name)
    return fixed is not None and fixed[0] <= value_range[0] and value_range[1] <= fixed[1]


@dataclasses.dataclass
class Block:
    """A Dense layer and the elementwise layers that follow it."""

    dense: keras.layers.Layer
    post: list

    @property
    def units(self) -> int:
        return int(self.dense.units)


@dataclasses.dataclass
class Chain:
    """A parsed morphable model."""

    model: keras.Model
    input_shape: tuple
    input_layer: keras.layers.Layer | None
    prefix: list
    blocks: list

    @property
    def hidden(self) -> list:
        return self.blocks[:-1]

    @property
    def output(self) -> Block:
        return self.blocks[-1]


def _kind(layer) -> str:
    return type(layer).__name__


def _model_layers(model) -> tuple[list, keras.layers.Layer | None]:
    if not isinstance(model, keras.Model):
        raise NotMorphableError(
            f"Expected a `keras.Model`. Received: model of type {type(model).__name__}"
        )
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs:
        raise NotMorphableError(
            f"Model {model.name!r} is not built; build it with an `Input` (or call it once) "
            "before morphing."
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise NotMorphableError(
            f"Model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; only "
            "single-input, single-output chains can be morphed."
        )
    layers = list(model.layers)
    input_layer = None
    if layers and _kind(layers[0]) == "InputLayer":
        input_layer = layers.pop(0)
    if not isinstance(model, keras.Sequential):
        previous = inputs[0]
        for layer in layers:
            try:
                layer_input = layer.input
            except (AttributeError, ValueError):
                layer_input = None
            if layer_input is not previous:
                raise NotMorphableError(
                    f"Layer {layer.name!r} of model {model.name!r} does not take the previous "
                    "layer's output as its only input; only single-chain models can be morphed."
                )
            previous = layer.output
        if previous is not outputs[0]:
            raise NotMorphableError(f"Model {model.name!r} is not a single chain of layers.")
    return layers, input_layer


def parse_model(model) -> Chain:
    """Splits a model into its prefix and Dense blocks.

    Raises:
        NotMorphableError: for unsupported layers or topologies, naming the layer.
    """
    layers, input_layer = _model_layers(model)
    input_shape = tuple(model.inputs[0].shape[1:])
    prefix, blocks = [], []
    feature_shape = input_shape
    for layer in layers:
        kind = _kind(layer)
        if kind not in SUPPORTED_LAYERS:
            raise NotMorphableError(
                f"Layer {layer.name!r} ({kind}) is not supported by the Net2Net morphisms; "
                f"supported layers: {', '.join(SUPPORTED_LAYERS)}."
            )
        if kind == "Dense":
            if len(feature_shape) != 1:
                raise NotMorphableError(
                    f"Dense layer {layer.name!r} receives inputs of shape {feature_shape}; only "
                    "rank-2 (batch, features) inputs can be morphed (add a Flatten layer)."
                )
            blocks.append(Block(layer, []))
            feature_shape = (int(layer.units),)
        elif kind in ("Flatten", "Reshape"):
            if blocks:
                raise NotMorphableError(
                    f"Layer {layer.name!r} ({kind}) comes after a Dense layer; Flatten and "
                    "Reshape are only supported before the first Dense layer."
                )
            prefix.append(layer)
            feature_shape = tuple(layer.output.shape[1:]) if kind == "Reshape" else (
                int(np.prod(feature_shape)),)
        else:
            (blocks[-1].post if blocks else prefix).append(layer)
    if not blocks:
        raise NotMorphableError(f"Model {model.name!r} has no Dense layer.")
    return Chain(model, input_shape, input_layer, prefix, blocks)


def hidden_block(chain: Chain, layer) -> tuple[int, Block]:
    """Finds a hidden Dense layer by name or by index among the hidden Dense layers."""
    hidden = chain.hidden
    names = [block.dense.name for block in hidden]
    if isinstance(layer, str):
        if layer not in names:
            hint = " (it is the output layer)" if layer == chain.output.dense.name else ""
            raise NotMorphableError(
                f"`layer` must name a hidden Dense layer of model {chain.model.name!r}{hint}. "
                f"Received: layer={layer!r}; hidden Dense layers: {names}"
            )
        index = names.index(layer)
    elif isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        if not -len(hidden) <= layer < len(hidden):
            raise NotMorphableError(
                f"`layer` index out of range: model {chain.model.name!r} has {len(hidden)} "
                f"hidden Dense layers {names}. Received: layer={layer!r}"
            )
        index = int(layer) % len(hidden)
    else:
        raise TypeError(
            f"`layer` must be a layer name (str) or an index (int). Received: layer={layer!r}"
        )
    return index, hidden[index]


# -- numpy forward pass ---------------------------------------------------------------------

_NUMPY_ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


def _apply_activation(fn, x):
    name = activation_name(fn)
    if name in _NUMPY_ACTIVATIONS:
        return _NUMPY_ACTIVATIONS[name](x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return keras.ops.convert_to_numpy(fn(keras.ops.convert_to_tensor(x)))


def _forward_layer(layer, x):
    kind = _kind(layer)
    if kind == "Dense":
        weights = layer.get_weights()
        x = x @ weights[0] + (weights[1] if len(weights) > 1 else 0)
        return _apply_activation(layer.activation, x)
    if kind == "Activation":
        return _apply_activation(layer.activation, x)
    if kind == "BatchNormalization":
        gamma, beta, mean, var = batchnorm_weights(layer)
        return (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta
    if kind == "Flatten":
        return x.reshape(x.shape[0], -1)
    if kind == "Reshape":
        return x.reshape((x.shape[0],) + tuple(layer.output.shape[1:]))
    return x  # Dropout: identity at inference


def forward(model, x) -> np.ndarray:
    """Inference-mode output of a morphable model computed with numpy (float32).

    Reads the weights from the model, so it checks what the model itself would compute
    without calling the backend (no tracing or compilation).
    """
    chain = parse_model(model)
    x = np.asarray(x, dtype=np.float32)
    for layer in chain.prefix:
        x = _forward_layer(layer, x)
    for block in chain.blocks:
        for layer in [block.dense] + block.post:
            x = _forward_layer(layer, x)
    return x


def batchnorm_weights(layer):
    """`(gamma, beta, moving_mean, moving_variance)` of a BatchNormalization layer.

    `gamma`/`beta` are ones/zeros when the layer has no scale/center.
    """
    weights = list(layer.get_weights())
    gamma = weights.pop(0) if layer.scale else None
    beta = weights.pop(0) if layer.center else None
    mean, var = weights
    gamma = np.ones_like(mean) if gamma is None else gamma
    beta = np.zeros_like(mean) if beta is None else beta
    return gamma, beta, mean, var


def batchnorm_weight_list(layer, gamma, beta, mean, var) -> list:
    """The `set_weights` list of a BatchNormalization layer from its four vectors."""
    weights = []
    if layer.scale:
        weights.append(gamma)
    if layer.center:
        weights.append(beta)
    return weights + [mean, var]


def dense_weights(layer) -> tuple[np.ndarray, np.ndarray]:
    """`(kernel, bias)` of a Dense layer; a zero bias when it has none."""
    weights = layer.get_weights()
    bias = weights[1] if len(weights) > 1 else np.zeros(weights[0].shape[1], np.float32)
    return weights[0], bias


# -- rebuilding -----------------------------------------------------------------------------


def clone_layer(layer, **overrides):
    """A fresh, unbuilt copy of `layer` with some config entries replaced."""
    config = layer.get_config()
    config.update(overrides)
    return layer.__class__.from_config(config)


def rebuild(chain: Chain, layers: list, weights: list, name_suffix: str = "") -> keras.Model:
    """Builds a new model of the same kind (Sequential or functional) from fresh layers.

    Args:
        chain: The parsed source model.
        layers: Fresh layers in chain order (no InputLayer).
        weights: For each layer, the `set_weights` list, or `None` to keep its initial weights.

    Returns:
        The new model, compiled with a fresh optimizer when the source model was compiled.
    """
    source = chain.model
    dtype = source.inputs[0].dtype
    if isinstance(source, keras.Sequential):
        model = keras.Sequential(
            [keras.Input(shape=chain.input_shape, dtype=dtype)] + layers, name=source.name
        )
    else:
        input_name = chain.input_layer.name if chain.input_layer is not None else None
        inputs = keras.Input(shape=chain.input_shape, dtype=dtype, name=input_name)
        x = inputs
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x, name=source.name)
    for layer, layer_weights in zip(layers, weights):
        if layer_weights is not None:
            layer.set_weights(layer_weights)
    if getattr(source, "compiled", False):
        config = source.get_compile_config()
        if config is not None:
            # A fresh optimizer from the same config: the old slots have the old shapes
            # and describe another function (see docs/morph.md).
            model.compile_from_config(config)
    return model
