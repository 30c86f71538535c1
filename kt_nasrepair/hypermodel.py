"""The dense (MLP) search space as a KerasTuner `HyperModel`."""

from __future__ import annotations

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
    """Search space of dense (MLP) classifiers.

    Hidden layers are `Dense` layers named `dense_0 .. dense_{n-1}`, each followed by a
    `Dropout` layer (`dropout_i`) when `dropout` is tuned, then a `Dense` output layer named
    `output`. Image inputs are flattened first.

    Hyperparameters (stable names, see `kt_nasrepair.dense_space` and docs/search_space.md):
    `num_layers`; `units` (one width for all layers) or, with `per_layer_units=True`,
    `units_0 .. units_{max-1}` (`units_i` active when `num_layers > i`); `activation` when
    several are given; `dropout` and `learning_rate` unless None.

    Args:
        input_shape: Shape of one sample, e.g. `(784,)` or `(28, 28)`.
        num_classes: Number of classes, at least 2.
        num_layers: `(min, max)` number of hidden layers, `1 <= min <= max`.
        units: `(min, max)` or `(min, max, step)` hidden widths, or a list of allowed widths.
        per_layer_units: Whether each hidden layer has its own width. Defaults to `True`.
        activation: Hidden activation name, or a list of names to choose from.
        dropout: `(min, max)` or `(min, max, step)` dropout rate after each hidden layer, or
            `None` for no dropout. Defaults to `None`.
        learning_rate: `(min, max)` learning rate searched on a log scale, or `None` to keep
            the optimizer's default. Defaults to `(1e-4, 1e-2)`.
        optimizer: Optimizer name or instance (a fresh copy is made for every model).
        loss: Loss name or object. Defaults to Keras' `"crossentropy"`, which takes integer
            and one-hot labels alike (sparse or categorical, chosen from the labels' shape);
            binary cross-entropy for a sigmoid output.
        metrics: Metrics passed to `compile`. Defaults to `["accuracy"]`.
        output_activation: `"softmax"` (default) or `"sigmoid"` (only with `num_classes=2`:
            one sigmoid unit).
        name: Optional name of the hypermodel.
        tunable: Whether the hyperparameters may be tuned (KerasTuner's meaning).
        shape_stable: `"auto"` (default), `True` or `False`. When on, `fit` trains each
            model inside one padded network of the space's maximum shape, compiled once per
            search; results and checkpoints are the compact model's (see
            docs/guides/shape_stable.md). `"auto"`: on JAX always, on TensorFlow where it
            pays (`kt_nasrepair.shape_stable.auto_enabled`), never on torch.

    Raises:
        ValueError: for an invalid argument, naming it and the value received (all checks
            happen here, not at the first trial; see docs/bad_input.md).

    Example:

    ```python
    hypermodel = kt_nasrepair.DenseHyperModel(input_shape=(784,), num_classes=10)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=5)
    ```
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        num_layers: Sequence[int] = (1, 4),
        units: Sequence[int] = (32, 512, 32),
        per_layer_units: bool = True,
        activation: str | Sequence[str] = "relu",
        dropout: Sequence[float] | None = None,
        learning_rate: Sequence[float] | None = (1e-4, 1e-2),
        optimizer: str | keras.optimizers.Optimizer = "adam",
        loss=None,
        metrics: Sequence | None = ("accuracy",),
        output_activation: str = "softmax",
        name: str | None = None,
        tunable: bool = True,
        shape_stable: bool | str = "auto",
    ):
        super().__init__(name=name, tunable=tunable)
        self.input_shape = _check_input_shape(input_shape)
        self.num_classes = _check_num_classes(num_classes)
        self.num_layers = _check_int_range("num_layers", num_layers, minimum=1)
        self.units = _check_units(units)
        check(per_layer_units in (True, False), "per_layer_units", per_layer_units,
              "True or False")
        self.per_layer_units = bool(per_layer_units)
        self.activation = _check_activation(activation)
        self.dropout = _check_float_range("dropout", dropout, low=0.0, high=1.0)
        self.learning_rate = _check_float_range(
            "learning_rate", learning_rate, low=0.0, high=None
        )
        self.optimizer = _check_optimizer(optimizer)
        check(output_activation in ("softmax", "sigmoid"), "output_activation",
              output_activation, "'softmax' or 'sigmoid'")
        check(output_activation != "sigmoid" or self.num_classes == 2, "num_classes",
              self.num_classes, "2 when `output_activation='sigmoid'` (one sigmoid unit)")
        self.output_activation = output_activation
        if loss is None:
            # NOTE: Keras resolves "crossentropy" per model, at its first batch, from the
            # shapes of labels and outputs (`compile_utils.get_loss`); "accuracy" is resolved
            # the same way, so both stay right for integer and one-hot labels.
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
        """The space of the original MNIST example, exactly.

        1-10 hidden ReLU layers sharing one width of 1-10 units (100 configurations), a
        softmax output, Adam with its default learning rate, cross-entropy and accuracy. The
        example trains each candidate for 10 epochs at batch size 32. The loss is Keras'
        `"crossentropy"`: the original's categorical cross-entropy for one-hot labels, the
        same value computed sparsely for integer labels.

        Returns:
            A `DenseHyperModel`.
        """
        return cls(input_shape=input_shape, num_classes=num_classes, num_layers=(1, 10),
                   units=(1, 10, 1), per_layer_units=False, activation="relu", dropout=None,
                   learning_rate=None, optimizer="adam", loss="crossentropy",
                   metrics=["accuracy"], name="mnist_seed", shape_stable=shape_stable)

    # -- hyperparameters -------------------------------------------------------------------

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
        # Declare every units_i (inactive ones return None) so the oracle sees the whole
        # space from the first trial instead of discovering it as deeper trials appear.
        for i in range(high):
            with hp.conditional_scope(NUM_LAYERS, list(range(i + 1, high + 1))):
                width = self._units_hp(hp, units_name(i))
            if i < depth:
                widths.append(width)
        return widths

    def build(self, hp) -> keras.Model:
        """Builds and compiles the model of one point of the space.

        Args:
            hp: A `keras_tuner.HyperParameters`.

        Returns:
            A compiled `keras.Sequential` model.
        """
        widths = self.hidden_widths(hp)
        activation = self.activation
        if isinstance(activation, list):
            activation = hp.Choice(ACTIVATION, activation)
        rate = None
        if self.dropout is not None:
            low, high, step = self.dropout
            rate = hp.Float(DROPOUT, low, high, step=step)
        learning_rate = None
        if self.learning_rate is not None:
            low, high, _ = self.learning_rate
            learning_rate = hp.Float(LEARNING_RATE, low, high, sampling="log")

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
        layers.append(
            keras.layers.Dense(outputs, activation=self.output_activation, name="output",
                               kernel_initializer=initializer)
        )
        model = keras.Sequential(layers, name=self.name or "dense_hypermodel")
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dense):
                # Built already (the model has an Input): the config keeps Keras' own.
                layer.kernel_initializer = keras.initializers.GlorotUniform()
        model.compile(optimizer=self._make_optimizer(learning_rate), loss=self.loss,
                      metrics=list(self.metrics))
        return model

    def fit(self, hp, model, *args, **kwargs):
        """Trains `model` (shape-stable when on and possible); KerasTuner calls this.

        Args:
            hp: The trial's `keras_tuner.HyperParameters`.
            model: The model `build` returned (or a warm-started or grown one).
            *args: Passed on to `model.fit`.
            **kwargs: Passed on to `model.fit`.

        Returns:
            The `History` of the fit.
        """
        return self.runner.fit(model, *args, **kwargs)

    def _make_optimizer(self, learning_rate):
        optimizer = self.optimizer
        if isinstance(optimizer, str):
            optimizer = keras.optimizers.get(optimizer)
        config = optimizer.get_config()
        if learning_rate is not None:
            config["learning_rate"] = learning_rate
        return optimizer.__class__.from_config(config)

    def search_space_size(self) -> int | None:
        """Number of distinct architectures, or `None` when a continuous range is tuned."""
        if self.dropout is not None or self.learning_rate is not None:
            return None
        if isinstance(self.units, list):
            n_units = len(self.units)
        else:
            low, high, step = self.units
            n_units = (high - low) // step + 1
        low, high = self.num_layers
        if self.per_layer_units:
            depth_counts = sum(n_units**d for d in range(low, high + 1))
        else:
            depth_counts = (high - low + 1) * n_units
        n_act = len(self.activation) if isinstance(self.activation, list) else 1
        return depth_counts * n_act


# -- argument checks -----------------------------------------------------------------------


def _check_input_shape(input_shape):
    value = input_shape
    if is_int(value):
        value = (value,)
    try:
        shape = tuple(value)
    except TypeError:
        shape = None
    check(bool(shape) and all(is_int(d) and d > 0 for d in shape), "input_shape", input_shape,
          "a non-empty tuple of positive integers, e.g. (784,) or (28, 28)")
    return tuple(int(d) for d in shape)


def _check_num_classes(num_classes):
    check(is_int(num_classes) and num_classes >= 2, "num_classes", num_classes,
          "an integer >= 2")
    return int(num_classes)


def _check_int_range(name, value, minimum):
    try:
        low, high = value
    except (TypeError, ValueError):
        low = high = None
    check(is_int(low) and is_int(high) and minimum <= low <= high, name, value,
          f"a pair (min, max) of integers with {minimum} <= min <= max")
    return int(low), int(high)


def _check_units(units):
    if isinstance(units, list):
        if not units or not all(is_int(u) and u > 0 for u in units):
            raise ValueError(
                "`units` given as a list must be a non-empty list of positive integers. "
                f"Received: units={units!r}"
            )
        return sorted(set(int(u) for u in units))
    values = tuple(units) if isinstance(units, tuple) else None
    if values is not None and len(values) in (2, 3):
        low, high = values[:2]
        step = values[2] if len(values) == 3 else 1
        if all(is_int(v) for v in (low, high, step)) and 1 <= low <= high and step >= 1:
            return int(low), int(high), int(step)
    raise ValueError(
        "`units` must be (min, max) or (min, max, step) with integers 1 <= min <= max and "
        f"step >= 1, or a list of positive integers. Received: units={units!r}"
    )


def _check_activation(activation):
    names = activation if isinstance(activation, (list, tuple)) else [activation]
    if not names:
        raise ValueError(
            "`activation` must be a Keras activation name (e.g. 'relu', 'tanh') or a non-empty "
            f"list of names. Received: activation={activation!r}"
        )
    for name in names:
        try:
            ok = isinstance(name, str) and keras.activations.get(name) is not None
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise ValueError(
                "`activation` must be a Keras activation name (e.g. 'relu', 'tanh') or a list "
                f"of names. Received: activation={activation!r}"
            )
    if isinstance(activation, (list, tuple)):
        return list(activation) if len(activation) > 1 else activation[0]
    return activation


def _check_float_range(name, value, low, high):
    if value is None:
        return None
    values = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(values) in (2, 3) and all(is_number(v) for v in values):
        vmin, vmax = float(values[0]), float(values[1])
        step = float(values[2]) if len(values) == 3 else None
        in_bounds = (vmin >= low if high is not None else vmin > low) and vmin <= vmax
        if high is not None:
            in_bounds = in_bounds and vmax < high
        if in_bounds and (step is None or step > 0):
            return vmin, vmax, step
    bounds = f"{low} <= min <= max < {high}" if high is not None else f"{low} < min <= max < inf"
    raise ValueError(
        f"`{name}` must be None or (min, max) (optionally with a step > 0) with {bounds}. "
        f"Received: {name}={value!r}"
    )


def _known_name(get, name) -> bool:
    """Whether Keras' `get` (`keras.optimizers.get`, `keras.losses.get`) knows the name."""
    if not isinstance(name, str):
        return False
    try:
        get(name)
    except ValueError:
        return False
    return True


def _check_optimizer(optimizer):
    ok = isinstance(optimizer, keras.optimizers.Optimizer)
    check(ok or _known_name(keras.optimizers.get, optimizer), "optimizer", optimizer,
          "a Keras optimizer name (e.g. 'adam') or instance")
    return optimizer


def _check_loss(loss):
    # Keras resolves the loss only at the first `fit`; a bad name would fail every trial.
    # Keras' `compile` also takes "crossentropy" and "ce" (sparse, categorical or binary,
    # chosen from the shapes of labels and outputs), though `keras.losses.get` does not.
    ok = callable(loss) or (isinstance(loss, str) and loss.lower() in ("crossentropy", "ce"))
    check(ok or _known_name(keras.losses.get, loss), "loss", loss,
          "None, a Keras loss name (e.g. 'categorical_crossentropy') or a loss object or "
          "function")
    return loss


def _check_metrics(metrics):
    if metrics is None:
        return []
    # NOTE: a single string would be split into characters by `list()`; Keras' `compile`
    # rejects it too, but only at the first `fit`.
    check(isinstance(metrics, (list, tuple)) and all(isinstance(m, str) or callable(m)
                                                       for m in metrics),
          "metrics", metrics, "None or a list of metric names or objects, e.g. ['accuracy']")
    return list(metrics)
