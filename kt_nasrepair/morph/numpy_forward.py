"""Numpy forward pass of a morphable chain, in inference or training mode.

Reads the weights from the Keras layers, so it checks what a model computes without calling
the backend (no tracing or compilation) and behaves the same on every backend.
"""

from __future__ import annotations

import numpy as np

from kt_nasrepair.morph import activations
from kt_nasrepair.morph import keras_models as km


def batchnorm_axes(layer, ndim: int) -> tuple[tuple, tuple]:
    """`(reduction axes, broadcast shape)` of a BatchNormalization layer on rank-`ndim` inputs."""
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    axis %= ndim
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(i for i in range(ndim) if i != axis), tuple(shape)


def batch_moments(layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit batch mean and (biased) variance, as BatchNormalization computes in training."""
    axes, _ = batchnorm_axes(layer, x.ndim)
    x64 = np.asarray(x, dtype=np.float64)
    return x64.mean(axis=axes), x64.var(axis=axes)


def forward_layer(layer, x: np.ndarray, training: bool = False) -> np.ndarray:
    """One layer of a morphable chain in numpy.

    In training mode BatchNormalization uses the batch's statistics; Dropout is the identity
    in both modes (its rate taken as 0: masks are random and differ between any two runs).
    """
    kind = type(layer).__name__
    if kind == "Dense":
        weights = layer.get_weights()
        x = x @ weights[0] + (weights[1] if len(weights) > 1 else 0)
        return activations.apply(layer.activation, x)
    if kind == "Activation":
        return activations.apply(layer.activation, x)
    if kind == "BatchNormalization":
        gamma, beta, mean, var = km.batchnorm_weights(layer)
        if training:
            mean, var = batch_moments(layer, x)
        _, shape = batchnorm_axes(layer, x.ndim)
        scale = (gamma / np.sqrt(var + layer.epsilon)).reshape(shape)
        return ((x - mean.reshape(shape)) * scale + beta.reshape(shape)).astype(x.dtype)
    if kind == "Flatten":
        return x.reshape(x.shape[0], -1)
    if kind == "Reshape":
        return x.reshape((x.shape[0],) + tuple(layer.output.shape[1:]))
    return x  # Dropout


def forward(model, x, training: bool = False) -> np.ndarray:
    """Output of a morphable model computed with numpy (float32) from its weights.

    Checks what the model itself computes without calling the backend (no tracing or
    compilation). A batch whose samples have the input's size but another shape (e.g.
    `(n, 64)` for an input of shape `(64, 1)`) is reshaped to the input shape.

    Args:
        model: A morphable model.
        x: A batch of inputs.
        training: `False` (default): inference mode (BatchNormalization on its moving
            statistics). `True`: BatchNormalization on the batch's statistics, as in `fit`;
            Dropout is the identity in both modes.

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
    size = int(np.prod(input_shape))
    if x.ndim >= 1 and x.shape[0] and x.size == x.shape[0] * size:
        return x.reshape((x.shape[0],) + tuple(input_shape))
    raise ValueError(
        f"Expected a batch of inputs of shape (n,) + {tuple(input_shape)}. Received: an array "
        f"of shape {x.shape}"
    )
