"""`PaddedDenseModel`: the one network of a search space's maximum shape."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kt_nasrepair.shape_stable import slices
from kt_nasrepair.shape_stable.layers import MaskedDense


class PaddedDenseModel(keras.Model):
    """An MLP of `max_depth` hidden layers of `max_width` units that runs any smaller one.

    `load(compact, spec)` puts a compact model in, `fit` trains exactly its function,
    `unload()` writes it back; `save_weights`/`save` save the compact model.

    Args:
        input_shape: Shape of one sample.
        activation: Hidden activation name.
        dropout: Whether hidden layers apply dropout (its rate is a variable).
        outputs: Output units.
        output_activation: Output activation name.
        max_depth: Number of hidden layers.
        max_width: Width of every hidden layer.
        name: Model name.
    """

    def __init__(self, input_shape, activation, dropout, outputs, output_activation,
                 max_depth, max_width, name="padded_dense"):
        inputs = keras.Input(shape=tuple(input_shape))
        x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
        hidden = [MaskedDense(max_width, activation, gated=i > 0, dropout=dropout,
                              name=f"masked_dense_{i}") for i in range(max_depth)]
        for layer in hidden:
            x = layer(x)
        output = keras.layers.Dense(outputs, activation=output_activation, name="output")
        super().__init__(inputs=inputs, outputs=output(x), name=name)
        self.hidden_layers, self.output_layer = hidden, output
        self.max_depth, self.max_width = int(max_depth), int(max_width)
        # Python code in train_step/test_step runs once per trace (jit / tf.function).
        self.train_traces = self.test_traces = 0
        # Keras tracks a model's attributes: the compact model's variables must not join.
        object.__setattr__(self, "compact", None)

    def train_step(self, *args, **kwargs):
        self.train_traces += 1
        return super().train_step(*args, **kwargs)

    def test_step(self, *args, **kwargs):
        self.test_traces += 1
        return super().test_step(*args, **kwargs)

    def snapshot_optimizer(self) -> None:
        """Remembers the (built) optimizer's variables as a fresh model's compile has them."""
        object.__setattr__(self, "initial_optimizer_state",
                           [np.array(ops.convert_to_numpy(v)) for v in self.optimizer.variables])

    def reset_optimizer(self) -> None:
        """Puts the optimizer's variables back to `snapshot_optimizer`'s values."""
        for variable, value in zip(self.optimizer.variables, self.initial_optimizer_state):
            variable.assign(value)

    def load(self, compact, spec) -> None:
        """Makes this model compute the function of `compact`, the model `spec` describes."""
        pairs = [layer.get_weights() for layer in spec.dense_layers(compact)]
        padded = slices.padded_weights(pairs, self.max_depth, self.max_width)
        gates = slices.layer_gates(len(spec.widths), self.max_depth)
        widths = list(spec.widths) + [0] * self.max_depth
        for i, (layer, (kernel, bias)) in enumerate(zip(self.hidden_layers, padded)):
            layer.kernel.assign(kernel)
            layer.bias.assign(bias)
            layer.mask.assign(slices.unit_mask(widths[i], self.max_width))
            if layer.gated:
                layer.gate.assign(gates[i])
            if layer.dropout:
                layer.rate.assign(spec.dropout or 0.0)
        self.output_layer.set_weights(list(padded[-1]))
        object.__setattr__(self, "compact", (compact, spec))

    def unload(self):
        """Writes the active slices back into the loaded compact model and returns it."""
        if self.compact is None:
            raise ValueError("No compact model is loaded: call `load(compact, spec)` first.")
        compact, spec = self.compact
        padded = [(ops.convert_to_numpy(layer.kernel), ops.convert_to_numpy(layer.bias))
                  for layer in self.hidden_layers]
        padded.append(tuple(np.asarray(w) for w in self.output_layer.get_weights()))
        pairs = slices.compact_weights(padded, spec.widths)
        for layer, pair in zip(spec.dense_layers(compact), pairs):
            layer.set_weights(list(pair))
        return compact

    def save_weights(self, filepath, *args, **kwargs):
        """Saves the compact model's weights (the trial's own architecture)."""
        return self.unload().save_weights(filepath, *args, **kwargs)

    def save(self, filepath, *args, **kwargs):
        """Saves the compact model (the trial's own architecture)."""
        return self.unload().save(filepath, *args, **kwargs)
