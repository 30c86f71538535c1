"""Shape-stable execution: every trial of a dense space in one network, compiled once.

Tracing and compiling a new model costs seconds per trial (TensorFlow ~1.3 s, XLA on JAX
~2.7 s on our CPUs), often more than training it. Here each compact model is trained inside
one padded network of the space's maximum shape whose masks, gates, dropout rate and learning
rate are variables, with exactly the compact network's function and gradients (`slices.py`);
checkpoints keep the compact model. `PopulationDenseModel` trains K of them as one program.
"""

from kt_nasrepair.shape_stable.model import PaddedDenseModel
from kt_nasrepair.shape_stable.population import PopulationDenseModel
from kt_nasrepair.shape_stable.runner import MODES, ShapeStableRunner, auto_enabled
from kt_nasrepair.shape_stable.spec import DenseSpec, dense_spec


def compact_of(model, sync=True):
    """The compact model a `PaddedDenseModel` is running (synced first if `sync`), else `model`."""
    if isinstance(model, PaddedDenseModel) and model.compact is not None:
        return model.unload() if sync else model.compact[0]
    return model


__all__ = ["DenseSpec", "MODES", "PaddedDenseModel", "PopulationDenseModel",
           "ShapeStableRunner", "auto_enabled", "compact_of", "dense_spec"]
