"""Shape-stable execution: every trial of a dense space in one network, compiled once.

Tracing and compiling a new model costs seconds per trial (TensorFlow ~1.3 s, XLA on JAX
~2.7 s on our CPUs), often more than training it. In this mode each compact model a
`DenseHyperModel` builds is trained inside one padded network of the space's maximum shape
whose masks, gates, dropout rate and learning rate are variables, so its compiled train and
test steps serve every trial. The function and the gradients are exactly the compact
network's (`slices.py`); checkpoints and `load_model` keep the compact model.
`PopulationDenseModel` holds K such networks, trained by one program (`population.py`).
"""

from kt_nasrepair.shape_stable.model import PaddedDenseModel
from kt_nasrepair.shape_stable.population import PopulationDenseModel
from kt_nasrepair.shape_stable.runner import MODES, ShapeStableRunner, auto_enabled
from kt_nasrepair.shape_stable.spec import DenseSpec, dense_spec


def compact_of(model, sync=True):
    """The compact model a `PaddedDenseModel` is running, else `model`.

    Args:
        model: A Keras model.
        sync: Whether to write the trained slices into the compact model first (not needed
            when only its architecture is read).
    """
    if isinstance(model, PaddedDenseModel) and model.compact is not None:
        return model.unload() if sync else model.compact[0]
    return model


__all__ = ["DenseSpec", "MODES", "PaddedDenseModel", "PopulationDenseModel",
           "ShapeStableRunner", "auto_enabled", "compact_of", "dense_spec"]
