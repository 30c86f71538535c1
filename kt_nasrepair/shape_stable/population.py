"""`PopulationDenseModel`: K padded MLPs trained by one compiled program.

Layers hold K members' kernels `(K, in, out)`, one output per member (`m3_loss`) and a
per-member rate scaling the optimizer's update: HFTA's fusion (Wang et al., MLSys 2021).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kt_nasrepair.shape_stable import slices

# A layer's weights, in the order `layer_arrays()` lists them: a `MemberStack` holds the
# first four once per layer, the member settings once for all its layers.
_PER_LAYER = ("kernel", "bias", "mask", "gate")
_WEIGHTS = _PER_LAYER + ("rate", "choice")
# Optimizer settings that mix the members' gradients or updates.
COUPLING_OPTIMIZER_SETTINGS = ("clipnorm", "global_clipnorm", "weight_decay", "use_ema",
                               "gradient_accumulation_steps", "loss_scale_factor")


def member_name(index: int) -> str:
    """The output name of member `index` (`"m3"`): its logs are `m3_loss`, `val_m3_...`."""
    return f"m{index}"


def _activate(linear, activations, choice):
    """Each member's hidden activation: `activations[choice[k]]` (one name: no `choice`)."""
    outputs = activations[0](linear)
    for index, activation in enumerate(activations[1:], 1):
        # A selection, not a weighted sum: the other activations add no rounding error.
        outputs = ops.where(choice[:, None, None] == index, activation(linear), outputs)
    return outputs


def _dropout(outputs, rate, noise):
    """Inverted dropout at each member's `rate` (K,), from uniform `noise` of outputs' shape."""
    rate = rate[:, None, None]
    return outputs * ops.cast(noise >= rate, outputs.dtype) / (1.0 - rate)


def _member_settings(layer, dropout, activations):
    """A hidden layer's per-member dropout `rate` and activation `choice` (K,), or None."""
    k = layer.members
    rate = layer.add_weight(shape=(k,), initializer="zeros", trainable=False,
                            name="rate") if dropout else None
    choice = layer.add_weight(shape=(k,), initializer="zeros", trainable=False,
                              name="choice") if activations > 1 else None
    return rate, choice


class MemberDense(keras.layers.Layer):
    """A Dense layer of K members, `(B, in)` or `(K, B, in)` to `(K, B, units)`; a `hidden`
    one masks units and applies per-member `dropout`. With several `activations` names each
    member applies the one its `choice` indexes."""

    def __init__(self, members, units, activations, hidden=True, dropout=False, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.members, self.units = int(members), int(units)
        self.activations = [keras.activations.get(name) for name in activations]
        self.hidden, self.dropout = bool(hidden), bool(dropout)
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout else None

    def build(self, input_shape):
        k, in_dim = self.members, input_shape[-1]
        self.kernel = self.add_weight(shape=(k, in_dim, self.units), initializer="zeros",
                                      name="kernel")
        self.bias = self.add_weight(shape=(k, self.units), initializer="zeros", name="bias")
        self.mask = self.add_weight(shape=(k, self.units), initializer="ones", trainable=False,
                                    name="mask") if self.hidden else None
        self.rate, self.choice = _member_settings(self, self.dropout, len(self.activations))

    def call(self, inputs, training=False):
        if len(inputs.shape) == 2:  # the first layer: every member reads the same batch
            outputs = ops.einsum("bi,kio->kbo", inputs, self.kernel)
        else:
            outputs = ops.matmul(inputs, self.kernel)
        outputs = _activate(outputs + self.bias[:, None, :], self.activations, self.choice)
        if not self.hidden:
            return outputs
        outputs = outputs * self.mask[:, None, :]
        if self.dropout and training:
            noise = keras.random.uniform(ops.shape(outputs), seed=self.seed_generator)
            outputs = _dropout(outputs, self.rate, noise)
        return outputs

    def compute_output_shape(self, input_shape):
        return (self.members, input_shape[-2], self.units)


class MemberStack(keras.layers.Layer):
    """`depth` gated hidden layers of K members, `(K, B, width)` to the same, whose weights are
    one variable each.

    Layer i of member k computes `gate * dropout(mask * activation(h @ W + b)) + (1 - gate) * h`
    with its own slices of `kernel (K, depth, width, width)`, `bias`, `mask (K, depth, width)`
    and `gate (K, depth)`. One variable a weight, whatever the depth, is what the optimizer
    traces updates for: 5, not 2 a layer (docs/performance.md, "Hidden layers stacked").
    """

    def __init__(self, members, width, depth, activations, dropout=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.members, self.width, self.depth = int(members), int(width), int(depth)
        self.activations = [keras.activations.get(name) for name in activations]
        self.dropout = bool(dropout)
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout else None

    def build(self, input_shape):
        k, n, w = self.members, self.depth, self.width
        self.kernel = self.add_weight(shape=(k, n, w, w), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(k, n, w), initializer="zeros", name="bias")
        self.mask = self.add_weight(shape=(k, n, w), initializer="ones", trainable=False,
                                    name="mask")
        self.gate = self.add_weight(shape=(k, n), initializer="ones", trainable=False,
                                    name="gate")
        self.rate, self.choice = _member_settings(self, self.dropout, len(self.activations))

    def call(self, inputs, training=False):
        noise = None
        if self.dropout and training:  # drawn before the layers: a loop body keeps no RNG state
            noise = keras.random.uniform((self.members, self.depth, *ops.shape(inputs)[1:]),
                                         seed=self.seed_generator)

        def layer(hidden, i, kernel, bias, mask, gate):
            outputs = _activate(ops.matmul(hidden, kernel) + bias[:, None, :], self.activations,
                                self.choice) * mask[:, None, :]
            if noise is not None:
                outputs = _dropout(outputs, self.rate, noise[:, i])
            gate = gate[:, None, None]
            return gate * outputs + (1.0 - gate) * hidden

        weights = (self.kernel, self.bias, self.mask, self.gate)
        if keras.backend.backend() == "jax":
            # NOTE: a loop (JAX makes it a scan) compiled as fast as one variable a layer did;
            # the layers unrolled over slices of these variables took 0.8 s longer to compile.
            return ops.fori_loop(0, self.depth, lambda i, hidden: layer(
                hidden, i, *(weight[:, i] for weight in weights)), inputs)
        # NOTE: unstacked once, then unrolled: on TensorFlow a loop traced faster, but its
        # gradient made an epoch of wide programs without XLA 15-45% slower (docs/performance.md).
        hidden = inputs
        for i, slices in enumerate(zip(*(ops.unstack(ops.convert_to_tensor(weight), axis=1)
                                         for weight in weights))):
            hidden = layer(hidden, i, *slices)
        return hidden

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class MemberOutput(keras.layers.Layer):
    """Member `index`'s slice of a `(K, B, outputs)` tensor, then the activation (as in a
    compact model, so Keras's crossentropy sees the logits)."""

    def __init__(self, index, activation="linear", **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)
        self.activation = keras.activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs[self.index])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1:])


def member_optimizer(config: dict, members: int):
    """The unbuilt optimizer `config` describes, its updates scaled by `member_rates[k]`
    along the member axis (a variable, so JAX's stateless step sees it; Adam ignores a
    loss scale)."""
    base = type(keras.optimizers.deserialize(config))

    class MemberRates(base):
        def build(self, variables):
            super().build(variables)
            self.member_rates = self.add_variable((members,), initializer="ones",
                                                  name="member_rates")

        def update_step(self, gradient, variable, learning_rate):
            shape = (members,) + (1,) * (len(variable.shape) - 1)
            rates = ops.reshape(ops.cast(self.member_rates, variable.dtype), shape)
            return super().update_step(gradient, variable,
                                       ops.cast(learning_rate, variable.dtype) * rates)

    MemberRates.__name__ = f"MemberRates{base.__name__}"
    return MemberRates.from_config(config["config"])


def coupling_setting(optimizer) -> str | None:
    """The first optimizer setting that couples the members, or None."""
    for name in COUPLING_OPTIMIZER_SETTINGS:
        value = getattr(optimizer, name, None)
        if value is not None and value is not False and not (
                name == "gradient_accumulation_steps" and value <= 1):
            return f"{name}={value!r}"
    return None


class PopulationDenseModel(keras.Model):
    """K padded MLPs of `max_depth` x `max_width` that train as one program.

    `start(members)` loads compact models, `fit(x, targets(y))` trains them on the same
    batches, `unload(slots)` writes them back and `freeze(slot)` stops one member.

    Args:
        members: K.
        input_shape: Shape of one sample.
        activation: Hidden activation name, or several: each member uses its own.
        dropout: Whether hidden layers apply dropout (each member's rate is a variable).
        outputs: Output units.
        output_activation: Output activation name.
        max_depth: Number of hidden layers.
        max_width: Width of every hidden layer.
    """

    def __init__(self, members, input_shape, activation, dropout, outputs, output_activation,
                 max_depth, max_width, name="population_dense"):
        activations = (activation,) if isinstance(activation, str) else tuple(activation)
        inputs = keras.Input(shape=tuple(input_shape))
        x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
        hidden = [MemberDense(members, max_width, activations, dropout=dropout,
                              name="member_dense_0")]
        if max_depth > 1:
            hidden.append(MemberStack(members, max_width, max_depth - 1, activations,
                                      dropout=dropout, name="member_stack"))
        for layer in hidden:
            x = layer(x)
        output = MemberDense(members, outputs, ("linear",), hidden=False, name="member_output")
        logits = output(x)
        heads = [MemberOutput(k, output_activation, name=member_name(k))(logits)
                 for k in range(members)]
        super().__init__(inputs=inputs, outputs=heads, name=name)
        self.members, self.weighted_layers = int(members), [*hidden, output]
        self.max_depth, self.max_width = int(max_depth), int(max_width)
        self.train_traces = 0
        self._xla_for_training = False  # set by compile_members
        self.activations = activations
        object.__setattr__(self, "slots", [None] * self.members)  # not tracked by Keras

    def train_step(self, *args, **kwargs):
        self.train_traces += 1  # Python runs once per trace
        return super().train_step(*args, **kwargs)

    def make_test_function(self, force=False):
        if not self._xla_for_training:
            return super().make_test_function(force)
        # NOTE: the validation step runs once an epoch: its XLA compile cost a search's first
        # round about 1 s on 2 cores and saved 0.01 s an epoch (docs/performance.md).
        self.jit_compile = False
        try:
            return super().make_test_function(force)
        finally:
            self.jit_compile = True

    def compile_members(self, compile_config: dict, steps_per_execution: int = 1,
                        xla: bool = False) -> None:
        """Compiles with the members' shared settings: one loss and metric set per output.

        Args:
            compile_config: A member's `get_compile_config()`.
            steps_per_execution: Training steps one call of the program runs (at least the
                members' own); members only see epochs, so an epoch's steps is one call.
            xla: Compile the train step with XLA on TensorFlow too, where Keras leaves it
                off on CPUs (a member's config holds that resolved `False`, not `"auto"`).
                JAX always does.
        """
        config = {k: v for k, v in compile_config.items()
                  if k not in ("loss_weights", "weighted_metrics")}
        config["steps_per_execution"] = max(int(config.get("steps_per_execution") or 1),
                                            int(steps_per_execution))
        # The test step keeps the members' setting: it runs once an epoch.
        self._xla_for_training = (xla and keras.backend.backend() == "tensorflow"
                                  and not config.get("run_eagerly")
                                  and not config.get("jit_compile"))
        if self._xla_for_training:
            config["jit_compile"] = True
        optimizer = config.pop("optimizer")
        optimizer = {**optimizer, "config": dict(optimizer["config"])}
        if isinstance(optimizer["config"].get("learning_rate"), (int, float)):
            optimizer["config"]["learning_rate"] = 1.0  # each member's is in `member_rates`
        optimizer = member_optimizer(optimizer, self.members)
        loss = keras.losses.deserialize(config.pop("loss"))
        metrics = [keras.metrics.deserialize(m) if isinstance(m, dict) else m
                   for m in config.pop("metrics", None) or []]
        names = [member_name(k) for k in range(self.members)]
        self.compile(optimizer=optimizer, loss={n: loss for n in names},
                     metrics={n: list(metrics) for n in names}, **config)
        self.optimizer.build(self.trainable_variables)
        self._initial_optimizer = [np.array(ops.convert_to_numpy(v))
                                   for v in self.optimizer.variables]

    def targets(self, y):
        """Every member's targets: `y` under each output's name."""
        return {member_name(k): y for k in range(self.members)}

    def start(self, members) -> None:
        """Loads `[(compact, spec, learning_rate)]` (at most K) into the first slots, empties
        the rest and resets the optimizer as a fresh compile would."""
        if len(members) > self.members:
            raise ValueError(f"{len(members)} members do not fit in {self.members} slots.")
        for variable, value in zip(self.optimizer.variables, self._initial_optimizer):
            variable.assign(value)
        arrays = self.layer_arrays()
        rates = np.zeros((self.members,), "float32")
        self.slots[:] = [*members, *[None] * (self.members - len(members))]
        for slot, entry in enumerate(self.slots):
            if entry is None:
                self._write(arrays, slot)
            else:
                self._write(arrays, slot, *entry[:2])
                rates[slot] = entry[2]
        self.assign_layer_arrays(arrays)
        self.optimizer.member_rates.assign(rates)

    def freeze(self, slot: int) -> None:
        """Stops member `slot`'s updates; the others are unaffected."""
        self.set_rate(slot, 0.0)

    def set_rate(self, slot: int, rate: float) -> None:
        """Sets member `slot`'s learning rate (a callback of its trial changed it)."""
        rates = np.array(ops.convert_to_numpy(self.optimizer.member_rates))
        rates[slot] = rate
        self.optimizer.member_rates.assign(rates)

    def unload(self, slots, arrays=None) -> None:
        """Writes the trained slices of `slots` back into their compact models."""
        arrays = self.layer_arrays() if arrays is None else arrays
        for slot in slots:
            compact, spec, _ = self.slots[slot]
            padded = [(kernel[slot], bias[slot]) for kernel, bias, *_ in arrays]
            pairs = slices.compact_weights(padded, spec.widths)
            for layer, pair in zip(spec.dense_layers(compact), pairs):
                layer.set_weights(list(pair))

    def layer_arrays(self):
        """Numpy copies of the weights, one list per hidden layer then the output layer:
        `[kernel, bias, mask, gate, rate, choice]`, member axis first, None where absent."""
        arrays = []
        for layer in self.weighted_layers:
            values = [None if getattr(layer, name, None) is None
                      else np.array(ops.convert_to_numpy(getattr(layer, name)))
                      for name in _WEIGHTS]
            if isinstance(layer, MemberStack):  # one list per layer of the stack
                per_layer = len(_PER_LAYER)
                arrays += [[v[:, i] for v in values[:per_layer]] + values[per_layer:]
                           for i in range(layer.depth)]
            else:
                arrays.append(values)
        return arrays

    def assign_layer_arrays(self, arrays) -> None:
        """Assigns arrays shaped as `layer_arrays()` returns them."""
        start = 0
        for layer in self.weighted_layers:
            count = layer.depth if isinstance(layer, MemberStack) else 1
            values = arrays[start:start + count]
            start += count
            for index, name in enumerate(_WEIGHTS):
                variable = getattr(layer, name, None)
                if variable is not None:
                    value = values[0][index]
                    if isinstance(layer, MemberStack) and name in _PER_LAYER:
                        value = np.stack([v[index] for v in values], axis=1)
                    variable.assign(value)

    def _write(self, arrays, slot, compact=None, spec=None) -> None:
        """Writes `compact` into `slot` of `arrays`; no `spec`: one zero unit, never updated."""
        depth = self.max_depth
        if spec is None:
            padded, widths = [(0.0, 0.0)] * len(arrays), [1] * depth
            gates, rate, choice = [0.0] * depth, 0.0, 0.0
        else:
            pairs = [layer.get_weights() for layer in spec.dense_layers(compact)]
            padded = slices.padded_weights(pairs, depth, self.max_width)
            widths = [*spec.widths, *[0] * (depth - len(spec.widths))]
            gates, rate = slices.layer_gates(len(spec.widths), depth), spec.dropout or 0.0
            choice = float(self.activations.index(spec.activation))
        for i, (values, (kernel, bias)) in enumerate(zip(arrays, padded)):
            values[0][slot], values[1][slot] = kernel, bias
            if i < depth:
                values[2][slot] = slices.unit_mask(widths[i], self.max_width)
                for index, value in ((3, gates[i]), (4, rate), (5, choice)):
                    if values[index] is not None:
                        values[index][slot] = value
