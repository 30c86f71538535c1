"""EntropySearchOracle specifics: bad input, cost awareness, fantasies."""

import keras_tuner
import numpy as np
import pytest

from kt_nasrepair.oracles import EntropySearchOracle
from kt_nasrepair.oracles import _base


@pytest.mark.parametrize(
    "argument, value",
    [("num_initial_points", 0), ("num_max_samples", 0), ("num_max_samples", -1),
     ("num_candidates", 0), ("num_initial_points", 1.5)],
)
def test_bad_counts_raise_naming_the_argument(argument, value):
    with pytest.raises(ValueError, match=f"`{argument}` must be an integer >= 1. Received: {argument}={value}"):
        EntropySearchOracle(**{argument: value})


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def time(self):
        return self.now


def run_with_costs(cost_aware, monkeypatch, tmp_path):
    clock = FakeClock()
    monkeypatch.setattr(_base, "time", clock)
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    hps.Float("y", 0.0, 1.0)
    oracle = EntropySearchOracle(
        objective="loss", max_trials=16, seed=2, hyperparameters=hps,
        num_initial_points=5, num_candidates=128, cost_aware=cost_aware,
    )
    oracle._set_project_dir(str(tmp_path / str(cost_aware)), "cost")
    oracle.verbose = 0
    for _ in range(16):
        trial = oracle.create_trial("tuner0")
        v = trial.hyperparameters.values
        # x does not change the loss but makes trials up to 100x slower.
        clock.now += 1.0 + 99.0 * v["x"]
        oracle.update_trial(trial.trial_id, {"loss": (v["y"] - 0.5) ** 2})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return oracle


def test_cost_aware_prefers_cheap_trials(monkeypatch, tmp_path):
    cheap = run_with_costs(True, monkeypatch, tmp_path)
    plain = run_with_costs(False, monkeypatch, tmp_path)
    durations = cheap.trial_durations()
    np.testing.assert_allclose(
        durations[cheap.start_order[0]],
        1.0 + 99.0 * cheap.trials[cheap.start_order[0]].hyperparameters.values["x"],
    )
    late_x = lambda o: np.mean([o.trials[i].hyperparameters.values["x"] for i in o.start_order[5:]])  # noqa: E731
    assert late_x(cheap) < 0.2
    assert late_x(cheap) < late_x(plain)


def test_durations_survive_save_and_reload(monkeypatch, tmp_path):
    oracle = run_with_costs(True, monkeypatch, tmp_path)
    state = oracle.get_state()
    other = EntropySearchOracle(objective="loss", max_trials=16, cost_aware=True)
    other.trials = oracle.trials
    other.set_state(state)
    assert other.trial_durations() == oracle.trial_durations()
    assert len(other.trial_durations()) == 16
