"""Shared fixtures of the oracle suite: the oracles under test and drivers."""

import keras_tuner
import pytest

from kt_nasrepair.oracles import EntropySearchOracle
from kt_nasrepair.oracles import QuasiRandomSearchOracle

# Small candidate sets and few initial points keep the suite fast; the
# behaviour under test does not depend on them.
ORACLES = {
    "quasi_random": (QuasiRandomSearchOracle, {}),
    "entropy": (EntropySearchOracle, {"num_initial_points": 3, "num_candidates": 128}),
}


@pytest.fixture(params=sorted(ORACLES))
def make_oracle(request):
    """oracle kind -> factory(**kwargs) with the kind's fast defaults."""
    cls, defaults = ORACLES[request.param]

    def factory(**kwargs):
        return cls(**{**defaults, **kwargs})

    factory.kind = request.param
    factory.cls = cls
    return factory


class FunctionTuner(keras_tuner.Tuner):
    """A tuner whose trials return `function(hp)`: no model, no training."""

    def __init__(self, oracle, function, **kwargs):
        self.function = function
        super().__init__(oracle=oracle, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        return self.function(trial.hyperparameters)


@pytest.fixture
def function_tuner(tmp_path):
    """factory(oracle, function, name="t", overwrite=True) -> FunctionTuner."""

    def factory(oracle, function, name="search", overwrite=True):
        return FunctionTuner(
            oracle,
            function,
            directory=str(tmp_path),
            project_name=name,
            overwrite=overwrite,
        )

    return factory


def drive(oracle, function, num_trials, tuner_id="tuner0"):
    """Runs trials through the Oracle API only (create, update, end)."""
    for _ in range(num_trials):
        trial = oracle.create_trial(tuner_id)
        if trial.status != "RUNNING":
            return trial
        oracle.update_trial(trial.trial_id, function(trial.hyperparameters.values))
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return None


@pytest.fixture
def drive_oracle(tmp_path):
    """drive(oracle, values -> metrics dict, num_trials) on a temp project."""

    def run(oracle, function, num_trials, tuner_id="tuner0"):
        if getattr(oracle, "_directory", None) is None:
            oracle._set_project_dir(str(tmp_path), "oracle")
            oracle.verbose = 0
        return drive(oracle, function, num_trials, tuner_id)

    return run
