"""Model factories shared by the morph tests (a plain module, imported by name)."""

import keras
import numpy as np


def build_chain(input_dim, widths, outputs=3, activation="relu", batch_norm=False,
                dropout=None, output_activation="softmax", functional=False, seed=0):
    """A dense chain with random weights and, when `batch_norm`, non-trivial BN statistics."""
    layers = []
    for i, width in enumerate(widths):
        layers.append(keras.layers.Dense(width, activation=activation, name=f"dense_{i}"))
        if batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"bn_{i}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout_{i}"))
    layers.append(keras.layers.Dense(outputs, activation=output_activation, name="output"))
    if functional:
        inputs = keras.Input((input_dim,))
        x = inputs
        for layer in layers:
            x = layer(x)
        model = keras.Model(inputs, x)
    else:
        model = keras.Sequential([keras.Input((input_dim,))] + layers)
    randomize_batchnorm(model, seed)
    return model


def randomize_batchnorm(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                (0.5 + rng.random(gamma.shape)).astype("float32"),
                rng.normal(size=beta.shape).astype("float32"),
                rng.normal(size=mean.shape).astype("float32"),
                (0.5 + rng.random(var.shape)).astype("float32"),
            ])


def infer(model, x):
    """Inference-mode output (Dropout off, BN on moving statistics)."""
    if keras.backend.backend() == "jax":
        # Eager JAX compiles every op for every new shape; one jitted predict is ~5x faster.
        return np.asarray(model.predict_on_batch(x))
    # Eager TensorFlow runs without tracing a tf.function, which costs more than it saves.
    return keras.ops.convert_to_numpy(model(keras.ops.convert_to_tensor(x), training=False))


def inputs(input_dim, n=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, input_dim)).astype("float32")
