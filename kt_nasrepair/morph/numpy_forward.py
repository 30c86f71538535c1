"""Numpy forward pass of a morphable chain from its layers' weights, in either mode.

No backend call (no tracing or compilation): the same on every backend.
"""

from __future__ import annotations

import numpy as np

from kt_nasrepair.morph import activations
from kt_nasrepair.morph import keras_models as km


def batch_moments(layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit batch mean and (biased) variance, as BatchNormalization computes in training."""
    axes, _ = _batchnorm_axes(layer, x.ndim)
    x64 = np.asarray(x, dtype=np.float64)
    return x64.mean(axis=axes), x64.var(axis=axes)


def _batchnorm_axes(layer, ndim: int) -> tuple[tuple, tuple]:
    axis = (layer.axis if isinstance(layer.axis, int) else layer.axis[0]) % ndim
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(i for i in range(ndim) if i != axis), tuple(shape)


def forward_layer(layer, x: np.ndarray, training: bool = False) -> np.ndarray:
    """One layer of a morphable chain in numpy (Dropout is the identity in both modes)."""
    kind = type(layer).__name__
    if kind == "Dense":
        weights = layer.get_weights()
        x = x @ weights[0] + (weights[1] if len(weights) > 1 else 0)
    if kind in ("Dense", "Activation"):
        return activations.apply(layer.activation, x)
    if kind == "BatchNormalization":
        gamma, beta, mean, var = km.batchnorm_weights(layer)
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
        model: A morphable model.
        x: A batch of inputs (samples of the input's size in another shape are reshaped).
        training: Whether BatchNormalization uses the batch's statistics (as in `fit`)
            instead of its moving ones; Dropout is the identity either way.

    Returns:
        The float32 output.

    Raises:
        NotMorphableError: when the model is not a morphable chain.
        ValueError: when `x` does not hold samples of the model's input size.
    """
    chain = km.parse_model(model)
    x = as_batch(x, chain.input_shape)
    for layer in km.chain_layers(chain):
        x = forward_layer(layer, x, training)
    return x


def as_batch(x, input_shape: tuple) -> np.ndarray:
    """`x` as a float32 batch of samples of shape `input_shape`."""
    x = np.asarray(x, dtype=np.float32)
    if tuple(x.shape[1:]) == tuple(input_shape):
        return x
    if x.ndim >= 1 and x.shape[0] and x.size == x.shape[0] * int(np.prod(input_shape)):
        return x.reshape((x.shape[0],) + tuple(input_shape))
    raise ValueError(
        f"Expected a batch of inputs of shape (n,) + {tuple(input_shape)}. Received: an array "
        f"of shape {x.shape}")
