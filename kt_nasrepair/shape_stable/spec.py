"""`DenseSpec`: what the shape-stable mode needs to know of a compact MLP."""

from __future__ import annotations

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class DenseSpec:
    """The shape of a plain MLP: `[Flatten] (Dense [Dropout])* Dense`."""

    input_shape: tuple  # of one sample
    widths: tuple  # hidden widths
    activation: str  # of every hidden layer
    dropout: float | None  # the rate after every hidden layer, or None
    outputs: int
    output_activation: str

    @property
    def population_family(self) -> tuple:
        """What members of one population program share (`family` less the activation,
        which each member selects for itself)."""
        return (self.input_shape, self.dropout is not None, self.outputs, self.output_activation)

    @property
    def family(self) -> tuple:
        """What the padded network must share with this one (all but widths, depth, rate)."""
        return (*self.population_family, self.activation)

    @staticmethod
    def dense_layers(model) -> list:
        """The Dense layers of `model`, hidden ones first, the output last."""
        return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


_UNSUPPORTED = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                "kernel_constraint", "bias_constraint", "lora_enabled", "quantization_mode")


def _activation_name(layer):
    return name if isinstance(name := keras.activations.serialize(layer.activation), str) else None


def dense_spec(model) -> tuple[DenseSpec | None, str]:
    """The `DenseSpec` of a built model: `(spec, "")`, or `(None, why it is no plain MLP)`."""
    if not isinstance(model, keras.Sequential) or not model.built:
        return None, "the model is not a built keras.Sequential"
    input_shape = tuple(model.input_shape[1:])
    flatten = bool(model.layers) and isinstance(model.layers[0], keras.layers.Flatten)
    if not flatten and len(input_shape) != 1:
        return None, "a model with a multi-dimensional input does not start with Flatten"
    denses, rates = [], []
    for layer in model.layers[int(flatten):]:
        if type(layer) is keras.layers.Dense:
            denses.append(layer)
            rates.append(None)
        elif isinstance(layer, keras.layers.Dropout) and rates and rates[-1] is None:
            rates[-1] = float(layer.rate)
        else:
            return None, f"layer {layer.name!r} ({type(layer).__name__}) is not Dense/Dropout"
    if len(denses) < 2:
        return None, "the model has no hidden Dense layer"
    hidden, output = denses[:-1], denses[-1]
    if rates[-1] is not None or len(set(rates[:-1])) != 1:
        return None, "the hidden layers do not share one dropout rate"
    activations = {_activation_name(layer) for layer in hidden}
    if len(activations) != 1 or None in activations:
        return None, "the hidden layers do not share one named activation"
    for layer in denses:
        if not layer.use_bias or any(getattr(layer, name, None) for name in _UNSUPPORTED):
            return None, f"layer {layer.name!r} has a bias-less, regularized or quantized setup"
    output_activation = _activation_name(output)
    if output_activation is None:
        return None, "the output activation has no name"
    return DenseSpec(input_shape, tuple(int(layer.units) for layer in hidden), activations.pop(),
                     rates[0], int(output.units), output_activation), ""
