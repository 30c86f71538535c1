"""`DenseHyperModel`: the dense (MLP) search space; see docs/search_space.md."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import keras_tuner

from kt_nasrepair._initializers import NumpyGlorotUniform
from kt_nasrepair._validation import check, is_int, is_number

# The names live in dense_space (the naming contract); imported here as before.
from kt_nasrepair.dense_space import (  # noqa: F401 (re-exported)
    ACTIVATION, DROPOUT, LEARNING_RATE, NUM_LAYERS, UNITS, units_name,
)
from kt_nasrepair.shape_stable.runner import ShapeStableRunner


class DenseHyperModel(keras_tuner.HyperModel):
    """Search space of dense (MLP) classifiers (layers and hyperparameters: docs/search_space.md).

    Args:
        input_shape: Shape of one sample, e.g. `(784,)` or `(28, 28)` (flattened first).
        num_classes: Number of classes, at least 2.
        num_layers: `(min, max)` number of hidden layers, `1 <= min <= max`.
        units: `(min, max)` or `(min, max, step)` hidden widths, or a list of allowed widths.
        per_layer_units: Whether each hidden layer has its own width. Defaults to `True`.
        activation: Hidden activation name, or a list of names to choose from.
        dropout: `(min, max[, step])` dropout rate after each hidden layer, or `None` (default).
        learning_rate: `(min, max)` searched on a log scale, or `None` for the optimizer's own.
        optimizer: Optimizer name or instance (a fresh copy is made for every model).
        loss: Loss name or object. Defaults to `"crossentropy"` (binary for a sigmoid output).
        metrics: Metrics passed to `compile`. Defaults to `["accuracy"]`.
        output_activation: `"softmax"` (default) or `"sigmoid"` (one unit; `num_classes=2`).
        name: Optional name of the hypermodel.
        tunable: Whether the hyperparameters may be tuned (KerasTuner's meaning).
        shape_stable: `"auto"` (default), `True` or `False`: train in one padded network
            compiled once per search (docs/guides/shape_stable.md).

    Raises:
        ValueError: for an invalid argument, naming it and the value received.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 num_layers: Sequence[int] = (1, 4), units: Sequence[int] = (32, 512, 32),
                 per_layer_units: bool = True, activation: str | Sequence[str] = "relu",
                 dropout: Sequence[float] | None = None,
                 learning_rate: Sequence[float] | None = (1e-4, 1e-2),
                 optimizer: str | keras.optimizers.Optimizer = "adam", loss=None,
                 metrics: Sequence | None = ("accuracy",), output_activation: str = "softmax",
                 name: str | None = None, tunable: bool = True, shape_stable: bool | str = "auto"):
        super().__init__(name=name, tunable=tunable)
        self.input_shape = _check_input_shape(input_shape)
        check(is_int(num_classes) and num_classes >= 2, "num_classes", num_classes,
              "an integer >= 2")
        self.num_classes = int(num_classes)
        self.num_layers = _check_num_layers(num_layers)
        self.units = _check_units(units)
        check(per_layer_units in (True, False), "per_layer_units", per_layer_units, "True or False")
        self.per_layer_units = bool(per_layer_units)
        self.activation = _check_activation(activation)
        self.dropout = _check_float_range("dropout", dropout, "<=", 1.0)
        self.learning_rate = _check_float_range("learning_rate", learning_rate, "<", math.inf)
        check(isinstance(optimizer, keras.optimizers.Optimizer)
              or _known(keras.optimizers.get, optimizer), "optimizer", optimizer,
              "a Keras optimizer name (e.g. 'adam') or instance")
        self.optimizer = optimizer
        check(output_activation in ("softmax", "sigmoid"), "output_activation",
              output_activation, "'softmax' or 'sigmoid'")
        check(output_activation != "sigmoid" or self.num_classes == 2, "num_classes",
              self.num_classes, "2 when `output_activation='sigmoid'` (one sigmoid unit)")
        self.output_activation = output_activation
        if loss is None:
            # NOTE: Keras resolves "crossentropy" (and "accuracy") per model at its first batch
            # from the label and output shapes, so both fit integer and one-hot labels.
            loss = "binary_crossentropy" if output_activation == "sigmoid" else "crossentropy"
        self.loss = _check_loss(loss)
        self.metrics = _check_metrics(metrics)
        self.shape_stable = shape_stable
        max_width = max(self.units) if isinstance(self.units, list) else self.units[1]
        # Checks `shape_stable`; fits this space's models (`fit`).
        self.runner = ShapeStableRunner(self.num_layers[1], max_width, shape_stable)

    @classmethod
    def mnist_seed(cls, input_shape=(784,), num_classes=10,
                   shape_stable="auto") -> "DenseHyperModel":
        """The space of the original MNIST example, exactly (docs/search_space.md)."""
        return cls(input_shape=input_shape, num_classes=num_classes, num_layers=(1, 10),
                   units=(1, 10, 1), per_layer_units=False, activation="relu", dropout=None,
                   learning_rate=None, optimizer="adam", loss="crossentropy",
                   metrics=["accuracy"], name="mnist_seed", shape_stable=shape_stable)

    def _units_hp(self, hp, name):
        if isinstance(self.units, list):
            return hp.Choice(name, self.units, ordered=True)
        low, high, step = self.units
        return hp.Int(name, low, high, step=step)

    def hidden_widths(self, hp) -> list[int]:
        """Declares the depth and width hyperparameters and returns the hidden widths."""
        low, high = self.num_layers
        depth = hp.Int(NUM_LAYERS, low, high)
        if not self.per_layer_units:
            return [self._units_hp(hp, UNITS)] * depth
        widths = []
        # Every units_i is declared (inactive ones return None) so the oracle sees the whole
        # space from the first trial.
        for i in range(high):
            with hp.conditional_scope(NUM_LAYERS, list(range(i + 1, high + 1))):
                widths.append(self._units_hp(hp, units_name(i)))
        return widths[:depth]

    def build(self, hp) -> keras.Model:
        """Builds and compiles the `keras.Sequential` model of the point `hp` of the space."""
        widths = self.hidden_widths(hp)
        activation = self.activation
        if isinstance(activation, list):
            activation = hp.Choice(ACTIVATION, activation)
        rate = None if self.dropout is None else hp.Float(DROPOUT, *self.dropout[:2],
                                                            step=self.dropout[2])
        learning_rate = None if self.learning_rate is None else hp.Float(
            LEARNING_RATE, *self.learning_rate[:2], sampling="log")
        layers = [keras.Input(shape=self.input_shape)]
        if len(self.input_shape) > 1:
            layers.append(keras.layers.Flatten(name="flatten"))
        initializer = NumpyGlorotUniform()
        for i, width in enumerate(widths):
            layers.append(keras.layers.Dense(width, activation=activation, name=f"dense_{i}",
                                             kernel_initializer=initializer))
            if rate is not None:
                layers.append(keras.layers.Dropout(rate, name=f"dropout_{i}"))
        outputs = 1 if self.output_activation == "sigmoid" else self.num_classes
        layers.append(keras.layers.Dense(outputs, activation=self.output_activation,
                                         name="output", kernel_initializer=initializer))
        model = keras.Sequential(layers, name=self.name or "dense_hypermodel")
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                # Built already (the model has an Input): the config keeps Keras' own.
                layer.kernel_initializer = keras.initializers.GlorotUniform()
        optimizer = self.optimizer
        optimizer = keras.optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer
        config = optimizer.get_config()
        if learning_rate is not None:
            config["learning_rate"] = learning_rate
        model.compile(optimizer=optimizer.__class__.from_config(config), loss=self.loss,
                      metrics=list(self.metrics))
        return model

    def fit(self, hp, model, *args, **kwargs):
        """Returns `model.fit(*args, **kwargs)`, shape-stable when on and possible."""
        return self.runner.fit(model, *args, **kwargs)

    def search_space_size(self) -> int | None:
        """Number of distinct architectures, or `None` when a continuous range is tuned."""
        if self.dropout is not None or self.learning_rate is not None:
            return None
        n_units = len(self.units if isinstance(self.units, list)
                      else range(self.units[0], self.units[1] + 1, self.units[2]))
        low, high = self.num_layers
        if self.per_layer_units:
            depth_counts = sum(n_units**d for d in range(low, high + 1))
        else:
            depth_counts = (high - low + 1) * n_units
        return depth_counts * (len(self.activation) if isinstance(self.activation, list) else 1)


def _items(value, lengths=None):
    """`tuple(value)`, or `()` when it is not iterable or its length is not in `lengths`."""
    try:
        items = tuple(value)
    except TypeError:
        return ()
    return items if lengths is None or len(items) in lengths else ()


def _check_input_shape(input_shape):
    shape = (input_shape,) if is_int(input_shape) else _items(input_shape)
    check(bool(shape) and all(is_int(d) and d > 0 for d in shape), "input_shape", input_shape,
          "a non-empty tuple of positive integers, e.g. (784,) or (28, 28)")
    return tuple(int(d) for d in shape)


def _check_num_layers(value):
    pair = _items(value, (2,))
    check(len(pair) == 2 and all(map(is_int, pair)) and 1 <= pair[0] <= pair[1], "num_layers",
          value, "a pair (min, max) of integers with 1 <= min <= max")
    return int(pair[0]), int(pair[1])


def _check_units(units):
    if isinstance(units, list):
        check(bool(units) and all(is_int(u) and u > 0 for u in units), "units", units,
              "a non-empty list of positive integers when given as a list")
        return sorted(set(int(u) for u in units))
    low, high, step = (units + (1,))[:3] if isinstance(units, tuple) and len(units) in (2, 3) \
        else (None, None, None)
    check(all(is_int(v) for v in (low, high, step)) and 1 <= low <= high and step >= 1, "units",
          units, "(min, max) or (min, max, step) with integers 1 <= min <= max and step >= 1, "
          "or a list of positive integers")
    return int(low), int(high), int(step)


def _check_activation(activation):
    names = list(activation) if isinstance(activation, (list, tuple)) else [activation]
    check(bool(names) and all(_known(keras.activations.get, n) for n in names), "activation",
          activation, "a Keras activation name (e.g. 'relu', 'tanh') or a non-empty list of names")
    return names if len(names) > 1 else names[0]


def _check_float_range(name, value, low_op, high):
    """`(min, max, step or None)` with `0.0 <low_op> min <= max < high`, or None."""
    if value is None:
        return None
    values = _items(value, (2, 3)) if isinstance(value, (tuple, list)) else ()
    ok = bool(values) and all(is_number(v) for v in values)
    if ok:
        vmin, vmax, *step = map(float, values)
        step = step[0] if step else None
        ok = (vmin >= 0.0 if low_op == "<=" else vmin > 0.0) and vmin <= vmax < high and (
            step is None or step > 0)
    check(ok, name, value, f"None or (min, max) (optionally with a step > 0) with "
          f"0.0 {low_op} min <= max < {high}")
    return vmin, vmax, step


def _known(get, name) -> bool:
    """Whether Keras' `get` (`keras.activations.get`, `keras.optimizers.get`, ...) knows `name`."""
    try:
        return isinstance(name, str) and get(name) is not None
    except (ValueError, TypeError):
        return False


def _check_loss(loss):
    # A bad name would otherwise fail every trial at its first `fit`. `compile` also takes
    # "crossentropy" and "ce" (resolved from the shapes), though `keras.losses.get` does not.
    ok = callable(loss) or (isinstance(loss, str) and loss.lower() in ("crossentropy", "ce"))
    check(ok or _known(keras.losses.get, loss), "loss", loss, "None, a Keras loss name (e.g. "
          "'categorical_crossentropy') or a loss object or function")
    return loss


def _check_metrics(metrics):
    if metrics is None:
        return []
    # NOTE: `list()` would split one string into characters; Keras rejects it only at `fit`.
    check(isinstance(metrics, (list, tuple)) and all(isinstance(m, str) or callable(m)
                                                       for m in metrics),
          "metrics", metrics, "None or a list of metric names or objects, e.g. ['accuracy']")
    return list(metrics)
