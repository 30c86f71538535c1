"""`NeuralRepair`: dormant-unit recycling, non-finite recovery and growth on plateau in one."""

from __future__ import annotations

import copy
from functools import partialmethod

from kt_nasrepair.repair._callback_base import RepairCallback
from kt_nasrepair.repair.grow_on_plateau import GrowOnPlateau
from kt_nasrepair.repair.recover_non_finite import RecoverNonFinite
from kt_nasrepair.repair.recycle_dormant import RecycleDormant

_RECORDS = ("total_repaired", "repair_history", "recoveries", "failure_reason",
            "growth_requested", "growth_requests")


class NeuralRepair(RepairCallback):
    """Runs `RecycleDormant`, `RecoverNonFinite` and `GrowOnPlateau` as one callback.

    The other arguments go to the part that takes them (the table in docs/neural_repair.md
    lists them); the parts' settings and records read as this callback's attributes.

    Args:
        recycle_dormant: bool, run `RecycleDormant`.
        recover_non_finite: bool, run `RecoverNonFinite`.
        grow_on_plateau: bool, run `GrowOnPlateau` (`monitor` and `mode` are checked even if off).
        verbose: int, 0 is silent, 1 prints each repair.
    """

    def __init__(self, recycle_dormant: bool = True, dormant_threshold: float = 0.0,
                 frequency: int = 1, probe_data=None, probe_size: int = 256,
                 recover_non_finite: bool = True, lr_factor: float = 0.1, max_recoveries: int = 3,
                 grow_on_plateau: bool = False, monitor: str = "val_loss", mode: str = "auto",
                 patience: int = 3, min_delta: float = 0.0, seed: int | None = None,
                 verbose: int = 0):
        super().__init__(verbose)
        self.recycler = RecycleDormant(dormant_threshold, frequency, probe_data, probe_size,
                                       seed, verbose)
        self.recoverer = RecoverNonFinite(lr_factor, max_recoveries, verbose)
        self.grower = GrowOnPlateau(monitor, mode, patience, min_delta, verbose)
        self._parts = (self.recycler, self.recoverer, self.grower)  # recycle, then keep weights
        self.recycle_dormant, self.recover_non_finite, self.grow_on_plateau = map(
            bool, (recycle_dormant, recover_non_finite, grow_on_plateau))

    def __getattr__(self, name):
        for part in self.__dict__.get("_parts", ()):
            if not name.startswith("_") and hasattr(part, name):
                return getattr(part, name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name in _RECORDS:
            raise AttributeError(f"`{name}` is a record of the repairs: read-only")
        owners = [part for part in self.__dict__.get("_parts", ()) if name in vars(part)]
        for part in owners:  # a setting of the parts (`verbose` is all three's)
            setattr(part, name, value)
        if not owners or name in self.__dict__:
            super().__setattr__(name, value)

    def set_probe_data(self, x) -> None:
        """Keeps the first `probe_size` samples of `x` (`RecycleDormant.set_probe_data`)."""
        self.recycler.set_probe_data(x)

    def set_growth_hook(self, hook) -> None:
        """Sets `hook(epoch) -> bool` or `None` (`GrowOnPlateau.set_growth_hook`)."""
        self.grower.set_growth_hook(hook)

    def summary(self) -> dict:
        """The six records as a JSON-serialisable copy."""
        return copy.deepcopy({name: getattr(self, name) for name in _RECORDS})

    def set_model(self, model) -> None:
        super().set_model(model)
        for part in self._parts:
            part.set_model(model)

    def _each(self, hook, *args, **kwargs):
        switches = (self.recycle_dormant, self.recover_non_finite, self.grow_on_plateau)
        for part in (part for part, on in zip(self._parts, switches) if on):
            getattr(part, hook)(*args, **kwargs)

    on_train_begin = partialmethod(_each, "on_train_begin")
    on_epoch_begin = partialmethod(_each, "on_epoch_begin")
    on_epoch_end = partialmethod(_each, "on_epoch_end")
    on_train_batch_end = partialmethod(_each, "on_train_batch_end")
