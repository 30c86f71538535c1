"""`MaskedDense`: a hidden Dense layer of the padded network, its shape set by variables."""

from __future__ import annotations

import keras
from keras import ops


class MaskedDense(keras.layers.Layer):
    """A Dense layer whose active units (`mask`), dropout `rate` and on/off `gate` are variables.

    `h = dropout(activation(x @ kernel + bias) * mask)`, then `gate * h + (1 - gate) * x`
    when `gated` (gate 0: the identity; the input must then be `units` wide).
    """

    def __init__(self, units, activation, gated=False, dropout=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.gated = bool(gated)
        self.dropout = bool(dropout)
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout else None

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if self.gated and in_dim != self.units:
            raise ValueError(f"A gated MaskedDense needs an input as wide as its {self.units} "
                             f"units. Received: input_shape={input_shape}")
        add = self.add_weight
        self.kernel = add(shape=(in_dim, self.units), initializer="zeros", name="kernel")
        self.bias = add(shape=(self.units,), initializer="zeros", name="bias")
        self.mask = add(shape=(self.units,), initializer="ones", name="mask", trainable=False)
        self.gate = add(shape=(), initializer="ones", name="gate",
                        trainable=False) if self.gated else None
        self.rate = add(shape=(), initializer="zeros", name="rate",
                        trainable=False) if self.dropout else None

    def call(self, inputs, training=False):
        hidden = self.activation(ops.matmul(inputs, self.kernel) + self.bias) * self.mask
        if self.dropout and training:
            # Inverted dropout written out: Keras' own takes the rate as a Python float.
            noise = keras.random.uniform(ops.shape(hidden), seed=self.seed_generator)
            hidden = hidden * ops.cast(noise >= self.rate, hidden.dtype) / (1.0 - self.rate)
        if self.gated:
            return self.gate * hidden + (1.0 - self.gate) * inputs
        return hidden

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)
