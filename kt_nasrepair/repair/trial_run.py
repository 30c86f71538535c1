"""`TrialRun`: one execution of one trial, from its hyperparameters to its score and record.

It owns build, donor choice and morph, the budgeted fit in segments with growth, the
checkpoint guard and the `TrialRecord`; population training fuses only the runs' fits.
"""

from __future__ import annotations

import time

from keras_tuner.errors import FailedTrialError

from kt_nasrepair import morph
from kt_nasrepair._io import atomic_write_json
from kt_nasrepair.repair import budget as budget_lib
from kt_nasrepair.repair import checkpoints
from kt_nasrepair.repair import donors as donors_lib
from kt_nasrepair.repair import fit_checks
from kt_nasrepair.repair import growth as growth_lib
from kt_nasrepair.repair import lazy_build
from kt_nasrepair.repair.record import TrialRecord, lineage_epochs
from kt_nasrepair.repair.training import EpochLog, merged_results, raise_if_diverged, results_value

# Hyperband writes these into a trial's values; such a trial has its own epoch budget.
_HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/trial_id")


class TrialRun:
    """One execution of `trial` inside `tuner`'s search.

    Args:
        tuner: The `RepairMixin` tuner running the trial.
        trial: The `keras_tuner` trial.
        execution: Which execution of the trial this is (0 for the first).
    """

    def __init__(self, tuner, trial, execution: int = 0):
        self.tuner = tuner
        self.trial = trial
        self.trial_id = trial.trial_id
        self.execution = execution
        self.trial_dir = tuner.get_trial_dir(trial.trial_id)
        self.objective = tuner.oracle.objective
        self.record = TrialRecord(trial.trial_id, started_at=time.time(),
                                  tuner_id=tuner.tuner_id, execution=execution)
        self.log = EpochLog()
        self.growth_on = True
        self._built = self._unbuilt = None

    # -- the run ------------------------------------------------------------------------------

    def run(self, args, kwargs):
        """Builds, warm-starts and trains the trial's model; returns what KerasTuner scores."""
        previous = TrialRecord.read(self.trial_dir)
        if previous is not None:
            # A record without an end is a run that was killed; counting it keeps the history.
            self.record.restarts = previous.restarts + (previous.ended_at is None)
            if self.execution > 0:  # the trial's clock and checkpoint span its executions
                self.record.started_at = previous.started_at
                self.record.checkpoint = previous.checkpoint
        # A record without an end marks a killed run (the checkpoint waits for the fit's end).
        self.record.write(self.trial_dir)
        try:
            model, args, kwargs = self._build(args, kwargs)
            self._built = model
            parent = self.tuner.grown_parent(self.trial.hyperparameters)
            self._stored_from_start = parent is not None
            probe = donors_lib.probe_batch(args, kwargs, model)
            self.warm_start(model, probe)
            kwargs = self._with_callbacks(kwargs, probe)
            fit_start = time.perf_counter()
            results, model = self._fit_in_segments(model, args, kwargs)
            raise_if_diverged(self.log, results, self.objective, self.record)
            fit_checks.check_objective_reported(results, self.objective)
        except Exception as error:
            # Keep what is known about a failing trial next to its KerasTuner record.
            self.record.error = f"{type(error).__name__}: {error}"
            self._finish()
            raise
        self.record.train_seconds = time.perf_counter() - fit_start
        self.record.repairs = self._repair_totals(kwargs)
        self._finish()
        atomic_write_json(self.tuner._get_build_config_fname(self.trial_id),
                          model.get_build_config())
        return results

    def _finish(self):
        self.record.ended_at = time.time()
        self.record.fit_mode = self.log.fit_mode
        self.record.write(self.trial_dir)

    def _build(self, args, kwargs):
        build = lambda: self.tuner._try_build(self.trial.hyperparameters)  # noqa: E731
        # A model without Input gets its weights from the data's shapes, to be warm-started.
        model, args, kwargs, self._unbuilt = lazy_build.build_from_data(build(), args, kwargs,
                                                                        rebuild=build)
        try:
            fit_checks.check_input_shapes(model, self.trial_id, args, kwargs)
        except FailedTrialError:
            self.record.reason = "the data does not fit the model's input"
            raise
        return model, args, kwargs

    # -- the warm start -----------------------------------------------------------------------

    def warm_start(self, model, probe=None) -> TrialRecord:
        """Writes the best reachable donor's weights into `model`; fills the record."""
        record, tuner = self.record, self.tuner
        parent = self.trial.hyperparameters.values.get("tuner/trial_id")
        if parent is not None:
            record.reason = f"continues Hyperband trial {parent} from its own weights"
            return record
        if tuner.warm_start == "none":
            record.reason, record.short_reason = ("warm start disabled (warm_start='none')",
                                                  "warm start off")
            return record
        try:
            morph.describe(model)
        except Exception as error:  # NotMorphableError, or a model morph cannot even read
            record.reason = f"target model cannot be morphed: {error}"
            record.short_reason = donors_lib.refusal_label(model)
            if self._unbuilt and record.short_reason == "model not built":
                record.reason += f" ({self._unbuilt})"
            return record
        candidates = donors_lib.donor_candidates(tuner.oracle, self.trial_id, tuner.donor_pool)
        if not candidates:
            record.reason, record.short_reason = ("no completed trial to start from yet",
                                                  "no finished trial yet")
            return record
        outcome = donors_lib.warm_start(
            model, candidates, load_donor=tuner.donor_model, noise_std=tuner.noise_std,
            seed=donors_lib.transfer_seed(tuner.repair_seed(), self.trial_id, self.execution),
            probe=probe,
        )
        for key, value in outcome.items():
            setattr(record, key, value)
        if record.donor is None:
            record.refused, record.short_reason = [], "no reachable donor"  # the reason lists them
            record.reason = (f"no eligible donor is reachable (donor_pool="
                             f"{tuner.donor_pool:g}): {outcome['reason']}")
        else:
            record.donor_epochs = lineage_epochs(tuner.trial_record(record.donor))
        return record

    # -- callbacks ----------------------------------------------------------------------------

    def _with_callbacks(self, kwargs, probe):
        """The fit's callbacks with the checkpoint guarded, repairs wired and the log last."""
        fname = self.tuner._get_checkpoint_fname(self.trial_id)
        callbacks = []
        for callback in kwargs.get("callbacks", []):
            if checkpoints.is_best_epoch_callback(callback, fname):
                callback = checkpoints.BestEpochGuard(callback, self._on_checkpoint)
            if hasattr(callback, "set_growth_hook"):
                callback.set_growth_hook(lambda epoch: self.growth_on)
            if probe is not None and getattr(callback, "probe_data", False) is None:
                callback.set_probe_data(probe)
            callbacks.append(callback)
        return {**kwargs, "callbacks": [*callbacks, self.log]}

    def _on_checkpoint(self, model, epoch):
        """After each save of the trial's checkpoint: the architecture (when not the one the
        hyperparameters build, so `load_model` rebuilds what it reads) and the record."""
        grown = model is not self._built or self._stored_from_start
        checkpoints.store_architecture(self.trial_dir, model if grown else None)
        self.record.checkpoint = {"execution": self.execution, "epoch": int(epoch),
                                  "grown": grown}
        self.record.fit_mode = self.log.fit_mode
        self.record.write(self.trial_dir)

    @staticmethod
    def _repair_totals(kwargs):
        repairs = [cb for cb in kwargs["callbacks"]
                   if hasattr(cb, "total_repaired") or hasattr(cb, "recoveries")]
        if not repairs:
            return None
        return {"repaired_units": sum(getattr(cb, "total_repaired", 0) for cb in repairs),
                "recoveries": sum(getattr(cb, "recoveries", 0) for cb in repairs)}

    # -- training in segments: growth and the warm budget -------------------------------------

    def _fit_in_segments(self, model, args, kwargs):
        """`(results, final model)`: trains, growing on request, to the warm budget unless
        promoted."""
        record, log = self.record, self.log
        growers = [cb for cb in kwargs["callbacks"] if hasattr(cb, "set_growth_hook")]
        epochs, done = kwargs.get("epochs", 1), kwargs.get("initial_epoch", 0)
        stop_at = epochs
        budget = self._warm_budget(epochs - done)
        if budget is not None:
            record.warm_epochs, stop_at = budget, done + budget
        segments = 0
        while True:
            results = self.tuner._fit_model(
                self.trial, model, *args, **{**kwargs, "initial_epoch": done, "epochs": stop_at})
            fit_checks.check_fit_results(results, self.objective)
            segments += 1
            if not log.epochs:
                record.notes = [
                    "HyperModel.fit did not pass `callbacks` on to `model.fit`: no epoch was "
                    "seen, so growth on plateau and the finite-epoch checks could not run"]
            done = log.next_epoch(stop_at)
            growth = any(cb.growth_requested for cb in growers)
            if done < stop_at and not growth:
                break  # stopped by a callback of the user's (EarlyStopping, say)
            if done >= stop_at:
                if stop_at >= epochs:
                    break
                # The warm budget is spent: go on only when promising.
                value = budget_lib.best_value(self.objective, log.logs)
                if value is None:  # an objective computed by `fit` itself, not logged
                    value = results_value(results, self.objective)
                record.value_at_warm_epochs = value
                record.promoted = budget_lib.should_promote(self.objective, value,
                                                            self._donor_score())
                if not record.promoted:
                    break
                stop_at = epochs
            if growth:
                model = self._grow_or_skip(model, done)
        record.epochs_trained = len(log.epochs) if log.epochs else None
        return merged_results(log, results, segments, self.objective), model

    def _warm_budget(self, epochs):
        if self.record.donor is None:
            return None
        if any(key in self.trial.hyperparameters.values for key in _HYPERBAND_KEYS):
            return None  # Hyperband budgets its trials itself
        return budget_lib.resolve_warm_epochs(self.tuner.warm_epochs, epochs)

    def _donor_score(self):
        oracle = self.tuner.oracle
        trials = getattr(oracle, "trials", None)
        donor = trials.get(self.record.donor) if trials is not None \
            else oracle.get_trial(self.record.donor)
        return None if donor is None else donor.score

    def _grow_or_skip(self, model, epoch):
        """The grown model; on a failure the model itself, the reason recorded and growth off
        for the rest of the execution (the growth hook then says no)."""
        start = time.perf_counter()
        try:
            before = morph.hidden_widths(model)
            seed = growth_lib.growth_seed(self.tuner.repair_seed(), self.trial_id,
                                          self.execution, epoch)
            grown, ops = growth_lib.call_grow(self.tuner.grow, model, seed)
            grown.compile_from_config(model.get_compile_config())
            checkpoints.check_storable(grown)  # else load_model could not rebuild it
        except Exception as error:
            self.record.growth_skipped.append(growth_lib.skipped_entry(epoch, error))
            self.growth_on = False
            return model
        self.record.growth.append(
            growth_lib.growth_entry(epoch, ops, before, grown, start, seed))
        return grown
