"""Shape-stable execution: a dense space in one network (docs/guides/shape_stable.md)."""

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
