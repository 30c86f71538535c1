"""Keras model <-> chain of layers (a prefix, then Dense blocks): parse, rebuild, numpy pass."""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np

from kt_nasrepair._validation import is_int
from kt_nasrepair.morph import activations

SUPPORTED_LAYERS = ("InputLayer", "Flatten", "Reshape", "Dense", "Activation", "Dropout",
                    "BatchNormalization")


class NotMorphableError(ValueError):
    """A model, layer or pair of models that the Net2Net morphisms cannot handle."""


@dataclasses.dataclass
class Block:
    """A Dense layer and the elementwise layers after it; all but the output block are *hidden*."""

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
    blocks: list  # the output block last


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
    if not inputs:
        raise NotMorphableError(
            f"Model {model.name!r} is a subclassed model; only Sequential and functional "
            "models can be morphed." if model.built else
            f"Model {model.name!r} is not built; build it with an `Input` (or call it once) first.")
    if len(inputs) != 1 or len(outputs) != 1:
        raise NotMorphableError(f"Model {model.name!r} has {len(inputs)} inputs and "
                                f"{len(outputs)} outputs; only single-input, single-output "
                                "chains can be morphed.")
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
    """Splits a model into its prefix and Dense blocks (NotMorphableError names the layer)."""
    layers, input_layer = _model_layers(model)
    input_shape = feature_shape = tuple(model.inputs[0].shape[1:])
    prefix, blocks = [], []
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
    hidden, model = chain.blocks[:-1], chain.model.name
    names = [block.dense.name for block in hidden]
    if isinstance(layer, str) and layer not in names:
        hint = " (it is the output layer)" if layer == chain.blocks[-1].dense.name else ""
        raise NotMorphableError(f"`layer` must name a hidden Dense layer of model {model!r}"
                                f"{hint}. Received: layer={layer!r}; hidden Dense layers: {names}")
    if not isinstance(layer, str) and not is_int(layer):
        raise TypeError(
            f"`layer` must be a layer name (str) or an index (int). Received: layer={layer!r}")
    if not isinstance(layer, str) and not -len(hidden) <= layer < len(hidden):
        raise NotMorphableError(f"`layer` index out of range: model {model!r} has {len(hidden)} "
                                f"hidden Dense layers {names}. Received: layer={layer!r}")
    index = names.index(layer) if isinstance(layer, str) else int(layer) % len(hidden)
    return index, hidden[index]


def chain_layers(chain: Chain) -> list:
    """Every layer of a parsed chain, in order (no InputLayer)."""
    return chain.prefix + [layer for block in chain.blocks for layer in [block.dense] + block.post]


def batchnorm_weights(layer):
    """`(gamma, beta, moving_mean, moving_variance)`; ones/zeros without scale/center."""
    weights = list(layer.get_weights())
    mean, var = weights[-2:]
    gamma = weights.pop(0) if layer.scale else np.ones_like(mean)
    beta = weights.pop(0) if layer.center else np.zeros_like(mean)
    return gamma, beta, mean, var


def dense_weights(layer) -> tuple[np.ndarray, np.ndarray]:
    """`(kernel, bias)` of a Dense layer; a zero bias when it has none."""
    weights = layer.get_weights()
    return weights[0], weights[1] if len(weights) > 1 else np.zeros(weights[0].shape[1], np.float32)


def weight_list(layer, *arrays) -> list:
    """The `set_weights` list of a Dense `(kernel, bias)` or BN `(gamma, beta, mean, var)`."""
    kept = (True, layer.use_bias) if _kind(layer) == "Dense" else (
        layer.scale, layer.center, True, True)
    return [array for array, keep in zip(arrays, kept) if keep]


_LIVE_ATTRIBUTES = ("activation", "kernel_regularizer", "bias_regularizer", "kernel_constraint",
                    "bias_constraint", "activity_regularizer")


def _refusal(head: str, error: Exception, tail: str = ".") -> NotMorphableError:
    return NotMorphableError(f"{head} ({type(error).__name__}: {error}){tail}")


def clone_layer(layer, **overrides):
    """A fresh, unbuilt copy of `layer` with config `overrides`, sharing its live functions."""
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


def rebuild(chain: Chain, layers: list, weights: list) -> keras.Model:
    """A model of `chain`'s kind from fresh layers and weight lists, compiled as the source was."""
    source = chain.model
    try:
        x = inputs = keras.Input(shape=chain.input_shape, dtype=source.inputs[0].dtype, name=(
            None if chain.input_layer is None or isinstance(source, keras.Sequential)
            else chain.input_layer.name))
        if isinstance(source, keras.Sequential):
            model = keras.Sequential([inputs] + layers, name=source.name)
        else:
            for layer in layers:
                x = layer(x)
            model = keras.Model(inputs, x, name=source.name)
        for layer, layer_weights in zip(layers, weights):
            if layer_weights is not None:
                layer.set_weights(layer_weights)
    except Exception as error:  # a layer Keras cannot rebuild from its config
        raise _refusal(f"Model {source.name!r} cannot be rebuilt from copies of its layers",
                       error) from error
    config = source.get_compile_config() if getattr(source, "compiled", False) else None
    if config is None:
        return model
    live = {value.__name__: value for value in keras.tree.flatten(getattr(source, "loss", None))
            if callable(value) and isinstance(getattr(value, "__name__", None), str)}
    try:
        with keras.saving.custom_object_scope(live):
            model.compile_from_config(config)
    except Exception as error:
        raise _refusal(f"Model {source.name!r} was compiled with objects its compile config "
                       "cannot restore", error, "; register them with "
                       "`keras.saving.register_keras_serializable`.") from error
    return model


def _batchnorm_axes(layer, ndim: int) -> tuple[tuple, tuple]:
    axis = (layer.axis if isinstance(layer.axis, int) else layer.axis[0]) % ndim
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(i for i in range(ndim) if i != axis), tuple(shape)


def batch_moments(layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit batch mean and (biased) variance, as BatchNormalization computes in training."""
    axes, _ = _batchnorm_axes(layer, x.ndim)
    x64 = np.asarray(x, dtype=np.float64)
    return x64.mean(axis=axes), x64.var(axis=axes)


def forward_layer(layer, x: np.ndarray, training: bool = False) -> np.ndarray:
    """One layer of a morphable chain in numpy (Dropout is the identity in both modes)."""
    kind = _kind(layer)
    if kind == "Dense":
        weights = layer.get_weights()
        x = x @ weights[0] + (weights[1] if len(weights) > 1 else 0)
    if kind in ("Dense", "Activation"):
        return activations.apply(layer.activation, x)
    if kind == "BatchNormalization":
        gamma, beta, mean, var = batchnorm_weights(layer)
        if training:
            mean, var = batch_moments(layer, x)
        _, shape = _batchnorm_axes(layer, x.ndim)
        scale = (gamma / np.sqrt(var + layer.epsilon)).reshape(shape)
        return ((x - mean.reshape(shape)) * scale + beta.reshape(shape)).astype(x.dtype)
    if kind == "Flatten":
        return x.reshape(x.shape[0], -1)
    if kind == "Reshape":
        return x.reshape((x.shape[0],) + tuple(layer.output.shape[1:]))
    return x


def forward(model, x, training: bool = False) -> np.ndarray:
    """Output of a morphable model computed with numpy (float32) from its weights.

    Args:
        model: A morphable model (else NotMorphableError).
        x: A batch of inputs of the input's size, reshaped if needed (else ValueError).
        training: Whether BatchNormalization uses the batch's statistics (Dropout: identity).
    """
    chain = parse_model(model)
    x = as_batch(x, chain.input_shape)
    for layer in chain_layers(chain):
        x = forward_layer(layer, x, training)
    return x


def as_batch(x, input_shape: tuple) -> np.ndarray:
    """`x` as a float32 batch of samples of shape `input_shape`."""
    x = np.asarray(x, dtype=np.float32)
    if tuple(x.shape[1:]) == tuple(input_shape):
        return x
    if x.ndim >= 1 and x.shape[0] and x.size == x.shape[0] * int(np.prod(input_shape)):
        return x.reshape((x.shape[0],) + tuple(input_shape))
    raise ValueError(f"Expected a batch of inputs of shape (n,) + {tuple(input_shape)}. "
                     f"Received: an array of shape {x.shape}")
