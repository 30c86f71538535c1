"""`NeuralRepair`: dormant-unit recycling, non-finite recovery and growth on plateau in one."""

from __future__ import annotations

import copy

from kt_nasrepair.repair._callback_base import RepairCallback
from kt_nasrepair.repair.grow_on_plateau import GrowOnPlateau
from kt_nasrepair.repair.recover_non_finite import RecoverNonFinite
from kt_nasrepair.repair.recycle_dormant import RecycleDormant

_RECORDS = ("total_repaired", "repair_history", "recoveries", "failure_reason",
            "growth_requested", "growth_requests")


def _forwarded(hook: str):
    def forward(self, *args, **kwargs):
        for part in self._active_parts():
            getattr(part, hook)(*args, **kwargs)

    forward.__name__ = hook
    return forward


class NeuralRepair(RepairCallback):
    """Runs `RecycleDormant`, `RecoverNonFinite` and `GrowOnPlateau` as one callback.

    The parts are the attributes `recycler`, `recoverer` and `grower`. Their settings and
    records read as this callback's attributes (`total_repaired`, `repair_history`,
    `recoveries`, `failure_reason`, `growth_requested`, `growth_requests`, `direction`...);
    a setting written here goes to its part, a record is read-only.

    Args:
        recycle_dormant: bool, recycle dormant units. Defaults to `True`.
        dormant_threshold: see `RecycleDormant`.
        frequency: see `RecycleDormant`.
        probe_data: see `RecycleDormant`.
        probe_size: see `RecycleDormant`.
        recover_non_finite: bool, recover from NaN/inf losses. Defaults to `True`.
        lr_factor: see `RecoverNonFinite`.
        max_recoveries: see `RecoverNonFinite`.
        grow_on_plateau: bool, request growth on a plateau. Defaults to `False`.
        monitor: see `GrowOnPlateau` (checked even while `grow_on_plateau` is off).
        mode: see `GrowOnPlateau` (resolved even while `grow_on_plateau` is off).
        patience: see `GrowOnPlateau`.
        min_delta: see `GrowOnPlateau`.
        seed: see `RecycleDormant`.
        verbose: int, 0 is silent, 1 prints each repair.

    Raises:
        ValueError: for an argument out of range (the message names it), or `mode="auto"`
            with a `monitor` whose direction cannot be inferred.

    Example:

    ```python
    repair = NeuralRepair(probe_data=x_train[:256], dormant_threshold=0.025)
    model.fit(x_train, y_train, epochs=10, callbacks=[repair])
    print(repair.total_repaired, repair.recoveries)
    ```
    """

    def __init__(self, recycle_dormant: bool = True, dormant_threshold: float = 0.0,
                 frequency: int = 1, probe_data=None, probe_size: int = 256,
                 recover_non_finite: bool = True, lr_factor: float = 0.1,
                 max_recoveries: int = 3, grow_on_plateau: bool = False,
                 monitor: str = "val_loss", mode: str = "auto", patience: int = 3,
                 min_delta: float = 0.0, seed: int | None = None, verbose: int = 0):
        super().__init__(verbose)
        self.recycler = RecycleDormant(dormant_threshold, frequency, probe_data, probe_size,
                                       seed, verbose)
        self.recoverer = RecoverNonFinite(lr_factor, max_recoveries, verbose)
        self.grower = GrowOnPlateau(monitor, mode, patience, min_delta, verbose)
        self._parts = (self.recycler, self.recoverer, self.grower)
        self.recycle_dormant = bool(recycle_dormant)
        self.recover_non_finite = bool(recover_non_finite)
        self.grow_on_plateau = bool(grow_on_plateau)

    def __getattr__(self, name):
        # The parts' settings and records (`patience`, `total_repaired`...) read as ours.
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
        """The records (`total_repaired` ... `growth_requests`) as a JSON-serialisable copy."""
        return copy.deepcopy({name: getattr(self, name) for name in _RECORDS})

    def set_model(self, model) -> None:
        super().set_model(model)
        for part in self._parts:
            part.set_model(model)

    def _active_parts(self):
        # In this order: the weights kept at an epoch's end are the recycled ones.
        switched = ((self.recycler, self.recycle_dormant),
                    (self.recoverer, self.recover_non_finite),
                    (self.grower, self.grow_on_plateau))
        return [part for part, on in switched if on]

    on_train_begin = _forwarded("on_train_begin")
    on_epoch_begin = _forwarded("on_epoch_begin")
    on_epoch_end = _forwarded("on_epoch_end")
    on_train_batch_end = _forwarded("on_train_batch_end")
