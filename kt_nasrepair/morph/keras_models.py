"""Keras model <-> chain of layers: parsing and rebuilding.

A morphable model is one chain `Input -> prefix -> block_0 -> ... -> block_L`: a prefix of
`Flatten`/`Reshape`/`Dropout`/`BatchNormalization`/`Activation` layers, then blocks of a
`Dense` layer and the `Activation`/`Dropout`/`BatchNormalization` layers after it. The last
block is the output layer, the others are *hidden*.
"""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np

from kt_nasrepair._validation import is_int

SUPPORTED_LAYERS = ("InputLayer", "Flatten", "Reshape", "Dense", "Activation", "Dropout",
                    "BatchNormalization")


class NotMorphableError(ValueError):
    """A model, layer or pair of models that the Net2Net morphisms cannot handle."""


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


def _kind(layer) -> str:
    return type(layer).__name__


def batchnorms(layers) -> list:
    """The BatchNormalization layers among `layers`."""
    return [layer for layer in layers if _kind(layer) == "BatchNormalization"]


def _model_layers(model) -> tuple[list, keras.layers.Layer | None]:
    if not isinstance(model, keras.Model):
        raise NotMorphableError(
            f"Expected a `keras.Model`. Received: model of type {type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs and model.built:
        raise NotMorphableError(
            f"Model {model.name!r} is a subclassed model: its layers form no graph to read; "
            "only Sequential and functional models can be morphed.")
    if not inputs:
        raise NotMorphableError(
            f"Model {model.name!r} is not built; build it with an `Input` (or call it once) "
            "before morphing.")
    if len(inputs) != 1 or len(outputs) != 1:
        raise NotMorphableError(
            f"Model {model.name!r} has {len(inputs)} inputs and {len(outputs)} outputs; only "
            "single-input, single-output chains can be morphed.")
    layers = list(model.layers)
    input_layer = layers.pop(0) if layers and _kind(layers[0]) == "InputLayer" else None
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
                    "layer's output as its only input; only single-chain models can be morphed.")
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
                f"supported layers: {', '.join(SUPPORTED_LAYERS)}.")
        if kind == "Dense":
            if len(feature_shape) != 1:
                raise NotMorphableError(
                    f"Dense layer {layer.name!r} receives inputs of shape {feature_shape}; only "
                    "rank-2 (batch, features) inputs can be morphed (add a Flatten layer).")
            blocks.append(Block(layer, []))
            feature_shape = (int(layer.units),)
        elif kind in ("Flatten", "Reshape"):
            if blocks:
                raise NotMorphableError(
                    f"Layer {layer.name!r} ({kind}) comes after a Dense layer; Flatten and "
                    "Reshape are only supported before the first Dense layer.")
            prefix.append(layer)
            feature_shape = tuple(layer.output.shape[1:]) if kind == "Reshape" else (
                int(np.prod(feature_shape)),)
        else:
            (blocks[-1].post if blocks else prefix).append(layer)
    if not blocks:
        raise NotMorphableError(f"Model {model.name!r} has no Dense layer.")
    return Chain(model, input_shape, input_layer, prefix, blocks)


def hidden_block(chain: Chain, layer) -> tuple[int, Block]:
    """A hidden Dense layer's index and block, from its name or its index among them."""
    hidden = chain.hidden
    names = [block.dense.name for block in hidden]
    if isinstance(layer, str):
        if layer not in names:
            hint = " (it is the output layer)" if layer == chain.blocks[-1].dense.name else ""
            raise NotMorphableError(
                f"`layer` must name a hidden Dense layer of model {chain.model.name!r}{hint}. "
                f"Received: layer={layer!r}; hidden Dense layers: {names}")
        index = names.index(layer)
    elif is_int(layer):
        if not -len(hidden) <= layer < len(hidden):
            raise NotMorphableError(
                f"`layer` index out of range: model {chain.model.name!r} has {len(hidden)} "
                f"hidden Dense layers {names}. Received: layer={layer!r}")
        index = int(layer) % len(hidden)
    else:
        raise TypeError(
            f"`layer` must be a layer name (str) or an index (int). Received: layer={layer!r}")
    return index, hidden[index]


def chain_layers(chain: Chain) -> list:
    """Every layer of a parsed chain, in order (no InputLayer)."""
    return chain.prefix + [layer for block in chain.blocks for layer in [block.dense] + block.post]


def batchnorm_weights(layer):
    """`(gamma, beta, moving_mean, moving_variance)`; ones/zeros without scale/center."""
    weights = list(layer.get_weights())
    gamma = weights.pop(0) if layer.scale else None
    beta = weights.pop(0) if layer.center else None
    mean, var = weights
    gamma = np.ones_like(mean) if gamma is None else gamma
    return gamma, np.zeros_like(mean) if beta is None else beta, mean, var


def batchnorm_weight_list(layer, gamma, beta, mean, var) -> list:
    """The `set_weights` list of a BatchNormalization layer from its four vectors."""
    return [gamma] * bool(layer.scale) + [beta] * bool(layer.center) + [mean, var]


def dense_weights(layer) -> tuple[np.ndarray, np.ndarray]:
    """`(kernel, bias)` of a Dense layer; a zero bias when it has none."""
    weights = layer.get_weights()
    bias = weights[1] if len(weights) > 1 else np.zeros(weights[0].shape[1], np.float32)
    return weights[0], bias


def dense_weight_list(layer, kernel, bias) -> list:
    """The `set_weights` list of a Dense layer."""
    return [kernel, bias] if layer.use_bias else [kernel]


_LIVE_ATTRIBUTES = ("activation", "kernel_regularizer", "bias_regularizer", "kernel_constraint",
                    "bias_constraint", "activity_regularizer")


def _refusal(head: str, error: Exception, tail: str = ".") -> NotMorphableError:
    return NotMorphableError(f"{head} ({type(error).__name__}: {error}){tail}")


def clone_layer(layer, **overrides):
    """A fresh, unbuilt copy of `layer` with some config entries replaced.

    It shares `layer`'s live activation, regularizers and constraints (a custom activation
    need not be registered); raises NotMorphableError when the config cannot be copied.
    """
    live = {name: getattr(layer, name) for name in _LIVE_ATTRIBUTES
            if hasattr(layer, name) and name not in overrides}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # serializing a lambda warns; we do not use it
            config = layer.get_config()
        config.update(overrides)
        config.update({name: None for name in live if name in config})
        copy = layer.__class__.from_config(config)
    except Exception as error:  # Keras raises TypeError/ValueError/KeyError here
        raise _refusal(f"Layer {layer.name!r} ({_kind(layer)}) cannot be copied from its config",
                       error) from error
    for name, value in live.items():
        if name in config or name == "activity_regularizer":
            setattr(copy, name, value)
    return copy


def _compile_like(model, source):
    """Compiles `model` as `source` was, with a fresh optimizer (see docs/morph.md).

    The config may name unregistered user functions (a custom loss): the live ones are offered.
    """
    config = source.get_compile_config()
    if config is None:
        return
    live = {value.__name__: value for value in keras.tree.flatten(getattr(source, "loss", None))
            if callable(value) and isinstance(getattr(value, "__name__", None), str)}
    try:
        with keras.saving.custom_object_scope(live):
            model.compile_from_config(config)
    except Exception as error:
        raise _refusal(f"Model {source.name!r} was compiled with objects its compile config "
                       "cannot restore", error, "; register them with "
                       "`keras.saving.register_keras_serializable`.") from error


def rebuild(chain: Chain, layers: list, weights: list) -> keras.Model:
    """A new model of `chain`'s kind from fresh layers in chain order, with their weights.

    `weights` holds each layer's `set_weights` list, or `None` to keep its initial weights.
    The model is compiled with a fresh optimizer when the source model was compiled.
    """
    try:
        model = _assemble(chain, layers)
        for layer, layer_weights in zip(layers, weights):
            if layer_weights is not None:
                layer.set_weights(layer_weights)
    except Exception as error:  # a layer Keras cannot rebuild from its config
        raise _refusal(f"Model {chain.model.name!r} cannot be rebuilt from copies of its layers",
                       error) from error
    if getattr(chain.model, "compiled", False):
        _compile_like(model, chain.model)
    return model


def _assemble(chain: Chain, layers: list) -> keras.Model:
    source = chain.model
    dtype = source.inputs[0].dtype
    if isinstance(source, keras.Sequential):
        return keras.Sequential(
            [keras.Input(shape=chain.input_shape, dtype=dtype)] + layers, name=source.name)
    input_name = chain.input_layer.name if chain.input_layer is not None else None
    x = inputs = keras.Input(shape=chain.input_shape, dtype=dtype, name=input_name)
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=source.name)
