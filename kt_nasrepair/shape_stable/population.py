"""`PopulationDenseModel`: K padded MLPs trained by one compiled program.

Each hidden layer holds the kernels of K members, shape `(K, in, out)`; member `k` runs the
padded network of `shape_stable/slices.py` with its own unit masks, layer gates and dropout
rate. The model has one output per member, named `m0 .. m{K-1}`, so Keras reports each
member's loss and metrics separately (`m3_loss`, `val_m3_accuracy`) and sums the members'
losses: the members share no weight, so member `k`'s gradient is exactly the gradient of its
own loss. A per-member learning rate scales the optimizer's update (`member_optimizer`), not
the loss, which Adam would cancel. This is HFTA's horizontal fusion (Wang et al., MLSys 2021)
on the shape-stable network.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from kt_nasrepair.shape_stable import slices

# Optimizer settings that mix the members' gradients or updates (a norm taken over a whole
# variable, a decay or average applied with the shared learning rate): a population cannot
# give each member the update it would get alone.
COUPLING_OPTIMIZER_SETTINGS = ("clipnorm", "global_clipnorm", "weight_decay", "use_ema",
                               "gradient_accumulation_steps", "loss_scale_factor")


def member_name(index: int) -> str:
    """The output name of member `index` (`"m3"`): its logs are `m3_loss`, `val_m3_...`."""
    return f"m{index}"


class MemberDense(keras.layers.Layer):
    """A Dense layer of K members: `(B, in)` or `(K, B, in)` inputs to `(K, B, units)`.

    Hidden layers multiply by a per-member unit mask, apply inverted dropout at a per-member
    rate and, when `gated`, pass their input through where the member's gate is 0; the
    output layer (`hidden=False`) does none of that.

    Args:
        members: K.
        units: Padded width.
        activation: Activation name.
        hidden: Whether this is a hidden layer (masks, gates, dropout) or the output layer.
        gated: Whether the layer may be switched off (its input must be `units` wide).
        dropout: Whether the layer applies dropout.
        seed: Seed of the dropout noise.
    """

    def __init__(self, members, units, activation, hidden=True, gated=False, dropout=False,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.members = int(members)
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.hidden = bool(hidden)
        self.gated = bool(gated)
        self.dropout = bool(dropout)
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout else None

    def build(self, input_shape):
        k, in_dim = self.members, input_shape[-1]
        self.kernel = self.add_weight(shape=(k, in_dim, self.units), initializer="zeros",
                                      name="kernel")
        self.bias = self.add_weight(shape=(k, self.units), initializer="zeros", name="bias")
        variable = dict(initializer="ones", trainable=False)
        self.mask = self.add_weight(shape=(k, self.units), name="mask", **variable) \
            if self.hidden else None
        self.gate = self.add_weight(shape=(k,), name="gate", **variable) \
            if self.gated else None
        self.rate = self.add_weight(shape=(k,), initializer="zeros", trainable=False,
                                    name="rate") if self.dropout else None

    def call(self, inputs, training=False):
        if len(inputs.shape) == 2:  # the first layer: every member reads the same batch
            outputs = ops.einsum("bi,kio->kbo", inputs, self.kernel)
        else:
            outputs = ops.matmul(inputs, self.kernel)
        outputs = self.activation(outputs + self.bias[:, None, :])
        if not self.hidden:
            return outputs
        outputs = outputs * self.mask[:, None, :]
        if self.dropout and training:
            rate = self.rate[:, None, None]
            noise = keras.random.uniform(ops.shape(outputs), seed=self.seed_generator)
            outputs = outputs * ops.cast(noise >= rate, outputs.dtype) / (1.0 - rate)
        if self.gated:
            gate = self.gate[:, None, None]
            return gate * outputs + (1.0 - gate) * inputs
        return outputs

    def compute_output_shape(self, input_shape):
        return (self.members, input_shape[-2], self.units)


class MemberOutput(keras.layers.Layer):
    """Member `index`'s slice of a `(K, B, outputs)` tensor, through the output activation.

    The activation comes after the slice, as in a compact model's last Dense layer: Keras's
    softmax and sigmoid keep their logits on the output, and the crossentropy losses then
    compute from the logits (a clipped probability would give other values and gradients
    where the outputs saturate).
    """

    def __init__(self, index, activation="linear", **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)
        self.activation = keras.activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs[self.index])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1:])


def member_optimizer(config: dict, members: int):
    """The optimizer `config` describes, with a per-member learning rate.

    Each variable's update is multiplied by `member_rates[k]` along its leading member axis
    (Adam's step is `lr * m_hat / (sqrt(v_hat) + eps)`, so scaling the loss would not change
    it). `member_rates` is an optimizer variable: JAX's stateless train step sees its value.

    Args:
        config: `keras.optimizers.serialize(optimizer)` of the members' optimizer.
        members: K.

    Returns:
        An unbuilt optimizer of a subclass of the configured class.
    """
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
        if value is None or value is False or (name == "gradient_accumulation_steps"
                                               and value <= 1):
            continue
        return f"{name}={value!r}"
    return None


class PopulationDenseModel(keras.Model):
    """K padded MLPs of `max_depth` x `max_width` that train as one program.

    `load(slot, compact, spec, rate)` puts a compact model into member `slot`; `fit` on
    `x` and `targets(y)` trains every member on the same batches; `unload(slot)` writes the
    member's trained slices back into its compact model. `freeze(slot)` stops a member's
    updates (its learning rate becomes 0) while the others train on.

    Args:
        members: K.
        input_shape: Shape of one sample.
        activation: Hidden activation name.
        dropout: Whether hidden layers apply dropout (each member's rate is a variable).
        outputs: Output units.
        output_activation: Output activation name.
        max_depth: Number of hidden layers.
        max_width: Width of every hidden layer.
    """

    def __init__(self, members, input_shape, activation, dropout, outputs, output_activation,
                 max_depth, max_width, name="population_dense"):
        inputs = keras.Input(shape=tuple(input_shape))
        x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
        hidden = []
        for i in range(max_depth):
            layer = MemberDense(members, max_width, activation, gated=i > 0,
                                dropout=dropout, name=f"member_dense_{i}")
            x = layer(x)
            hidden.append(layer)
        output = MemberDense(members, outputs, "linear", hidden=False, name="member_output")
        logits = output(x)
        heads = [MemberOutput(k, output_activation, name=member_name(k))(logits)
                 for k in range(members)]
        super().__init__(inputs=inputs, outputs=heads, name=name)
        self.members = int(members)
        self.hidden_layers = hidden
        self.output_layer = output
        self.max_depth = int(max_depth)
        self.max_width = int(max_width)
        self.train_traces = 0
        object.__setattr__(self, "slots", [None] * self.members)  # not tracked by Keras

    def train_step(self, *args, **kwargs):
        self.train_traces += 1  # Python runs once per trace
        return super().train_step(*args, **kwargs)

    def compile_members(self, compile_config: dict) -> None:
        """Compiles with the members' shared settings: one loss and metric set per output."""
        names = [member_name(k) for k in range(self.members)]
        config = dict(compile_config)
        optimizer_config = config.pop("optimizer")
        optimizer_config = {**optimizer_config, "config": dict(optimizer_config["config"])}
        if isinstance(optimizer_config["config"].get("learning_rate"), (int, float)):
            # Each member's float rate is its `member_rates` entry (`start`).
            optimizer_config["config"]["learning_rate"] = 1.0
        optimizer = member_optimizer(optimizer_config, self.members)
        loss = keras.losses.deserialize(config.pop("loss"))
        metrics = config.pop("metrics", None) or []
        metrics = [keras.metrics.deserialize(m) if isinstance(m, dict) else m for m in metrics]
        for key in ("loss_weights", "weighted_metrics"):
            config.pop(key, None)
        self.compile(optimizer=optimizer, loss={n: loss for n in names},
                     metrics={n: list(metrics) for n in names}, **config)
        self.optimizer.build(self.trainable_variables)
        self._initial_optimizer = [np.array(ops.convert_to_numpy(v))
                                   for v in self.optimizer.variables]

    def targets(self, y):
        """Every member's targets: `y` under each output's name."""
        return {member_name(k): y for k in range(self.members)}

    # -- members ------------------------------------------------------------------------------

    def start(self, members) -> None:
        """Loads `members` (`[(compact, spec, learning_rate)]`, at most K) into slots
        `0..`, resets the optimizer as a fresh compile would have it and empties the rest."""
        if len(members) > self.members:
            raise ValueError(f"{len(members)} members do not fit in {self.members} slots.")
        for variable, value in zip(self.optimizer.variables, self._initial_optimizer):
            variable.assign(value)
        arrays = self._read()
        rates = np.zeros((self.members,), "float32")
        for slot in range(self.members):
            entry = members[slot] if slot < len(members) else None
            self.slots[slot] = entry
            if entry is not None:
                compact, spec, rate = entry
                self._write_member(arrays, slot, compact, spec)
                rates[slot] = rate
            else:  # an empty slot: one hidden unit of zeros, never updated
                self._write_empty(arrays, slot)
        self._assign(arrays)
        self.optimizer.member_rates.assign(rates)

    def freeze(self, slot: int) -> None:
        """Stops member `slot`'s updates; the others are unaffected."""
        rates = np.array(ops.convert_to_numpy(self.optimizer.member_rates))
        rates[slot] = 0.0
        self.optimizer.member_rates.assign(rates)

    def set_rate(self, slot: int, rate: float) -> None:
        """Sets member `slot`'s learning rate (a callback of its trial changed it)."""
        rates = np.array(ops.convert_to_numpy(self.optimizer.member_rates))
        rates[slot] = rate
        self.optimizer.member_rates.assign(rates)

    def unload(self, slots, arrays=None) -> None:
        """Writes the trained slices of `slots` back into their compact models."""
        arrays = self._read() if arrays is None else arrays
        for slot in slots:
            compact, spec, _ = self.slots[slot]
            padded = [(kernel[slot], bias[slot]) for kernel, bias, *_ in arrays]
            pairs = slices.compact_weights(padded, spec.widths)
            for layer, pair in zip(spec.dense_layers(compact), pairs):
                layer.set_weights(list(pair))

    # -- arrays -------------------------------------------------------------------------------

    def _member_layers(self):
        return [*self.hidden_layers, self.output_layer]

    def _read(self):
        """`[kernel, bias, mask, gate, rate]` numpy arrays per layer (None when absent)."""
        def value(variable):
            return None if variable is None else np.array(ops.convert_to_numpy(variable))

        return [[value(layer.kernel), value(layer.bias), value(layer.mask),
                 value(getattr(layer, "gate", None)), value(getattr(layer, "rate", None))]
                for layer in self._member_layers()]

    def _assign(self, arrays) -> None:
        for layer, values in zip(self._member_layers(), arrays):
            for variable, value in zip(
                    (layer.kernel, layer.bias, layer.mask, layer.gate, layer.rate), values):
                if variable is not None:
                    variable.assign(value)

    def _write_member(self, arrays, slot, compact, spec) -> None:
        pairs = [layer.get_weights() for layer in spec.dense_layers(compact)]
        padded = slices.padded_weights(pairs, self.max_depth, self.max_width)
        gates = slices.layer_gates(len(spec.widths), self.max_depth)
        for i, (values, (kernel, bias)) in enumerate(zip(arrays, padded)):
            values[0][slot], values[1][slot] = kernel, bias
            if i < self.max_depth:
                width = spec.widths[i] if i < len(spec.widths) else 0
                values[2][slot] = slices.unit_mask(width, self.max_width)
                if values[3] is not None:
                    values[3][slot] = gates[i]
                if values[4] is not None:
                    values[4][slot] = spec.dropout or 0.0

    def _write_empty(self, arrays, slot) -> None:
        for i, values in enumerate(arrays):
            values[0][slot], values[1][slot] = 0.0, 0.0
            if i < self.max_depth:
                values[2][slot] = slices.unit_mask(1, self.max_width)
                if values[3] is not None:
                    values[3][slot] = 0.0
                if values[4] is not None:
                    values[4][slot] = 0.0
