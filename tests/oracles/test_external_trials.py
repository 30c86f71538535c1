"""Completed trials that reach `oracle.trials` without `create_trial` are used.

Users seed a search with known results, or load a state written by another
version, by putting completed trials into `oracle.trials` directly; they are
not in `start_order`.
"""

import pathlib
import re
import textwrap

import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine import trial as trial_module

from kt_nasrepair.oracles import EntropySearchOracle
from kt_nasrepair.oracles import QuasiRandomSearchOracle


def int_space(high=99):
    hps = keras_tuner.HyperParameters()
    hps.Int("x", 0, high)
    return hps


def completed_trial(hps, trial_id, x, score):
    hp = hps.copy()
    hp.values["x"] = x
    trial = trial_module.Trial(hp, trial_id=trial_id, status="COMPLETED")
    trial.metrics.register("score", direction="max")
    trial.metrics.update("score", score)
    trial.score = score
    trial.best_step = 0
    return trial


def seeded_oracle(cls, seed, tmp_path, trial_order, **kwargs):
    hps = int_space()
    oracle = cls(
        objective=keras_tuner.Objective("score", "max"), max_trials=20, seed=seed,
        hyperparameters=hps, **kwargs,
    )
    oracle._set_project_dir(str(tmp_path / f"s{seed}"), "seeded")
    oracle.verbose = 0
    # A clear monotone trend: the score grows with x, x spread over the lower 90%.
    for i in trial_order:
        oracle.trials[f"known_{i}"] = completed_trial(hps, f"known_{i}", 10 * i, float(i))
    return oracle


def test_entropy_search_learns_from_trials_outside_start_order(tmp_path):
    proposals = []
    for seed in range(10):
        # Default settings: 5 initial points for one hyperparameter.
        oracle = seeded_oracle(EntropySearchOracle, seed, tmp_path, range(10))
        trial = oracle.create_trial("tuner0")
        assert trial.status == "RUNNING"
        proposals.append(trial.hyperparameters.values["x"])
        # The GP was fitted: the oracle left its quasi-random phase.
        assert oracle._theta is not None
    # The best end is x = 99; the known trials stop at 90 (before the fix: the quasi-random
    # phase, half of the proposals in the known-bad half).
    assert sum(x > 90 for x in proposals) >= 9, proposals


def test_external_trials_are_read_in_a_deterministic_order(tmp_path):
    forward = seeded_oracle(
        EntropySearchOracle, 3, tmp_path / "a", range(10), num_initial_points=5, num_candidates=128
    )
    backward = seeded_oracle(
        EntropySearchOracle, 3, tmp_path / "b", reversed(range(10)), num_initial_points=5,
        num_candidates=128,
    )
    ids = [t.trial_id for t in forward.completed_trials()]
    assert ids == [t.trial_id for t in backward.completed_trials()] == sorted(ids)
    assert (
        forward.create_trial("t").hyperparameters.values
        == backward.create_trial("t").hyperparameters.values
    )


def test_started_trials_come_first_in_start_order_then_the_others(tmp_path, drive_oracle):
    oracle = EntropySearchOracle(
        objective="loss", max_trials=20, seed=1, hyperparameters=int_space(),
        num_initial_points=50,
    )
    drive_oracle(oracle, lambda v: {"loss": float(v["x"])}, 3)
    started = list(oracle.start_order)
    oracle.trials["a_known"] = completed_trial(int_space(), "a_known", 50, 1.0)
    ids = [t.trial_id for t in oracle.completed_trials()]
    assert ids == started + ["a_known"]


@pytest.mark.parametrize("cls", [QuasiRandomSearchOracle, EntropySearchOracle])
def test_known_configurations_are_never_proposed_again(cls, tmp_path):
    # Space of 4 values, 3 of them known: the only proposal left is x=3, then STOPPED.
    hps = int_space(high=3)
    oracle = cls(objective=keras_tuner.Objective("score", "max"), max_trials=10, seed=0,
                 hyperparameters=hps)
    oracle._set_project_dir(str(tmp_path), "known")
    oracle.verbose = 0
    for x in range(3):
        oracle.trials[f"known_{x}"] = completed_trial(hps, f"known_{x}", x, float(x))
    trial = oracle.create_trial("tuner0")
    assert trial.hyperparameters.values["x"] == 3
    oracle.update_trial(trial.trial_id, {"score": 3.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert oracle.create_trial("tuner0").status == "STOPPED"
    np.testing.assert_equal(len(oracle.trials), 4)


def test_the_documented_way_to_seed_a_search_works(make_oracle, tmp_path):
    doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "oracles.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
    snippet = next(b for b in blocks if 'trial_id="known_0"' in b)
    snippet = textwrap.dedent(snippet)
    hps = keras_tuner.HyperParameters()
    hps.Int("units", 32, 64, step=32)
    oracle = make_oracle(objective="val_accuracy", max_trials=5, seed=0, hyperparameters=hps)
    oracle._set_project_dir(str(tmp_path), "doc")
    oracle.verbose = 0
    exec(compile(snippet, str(doc), "exec"), {"oracle": oracle})
    assert [t.trial_id for t in oracle.completed_trials()] == ["known_0"]
    assert oracle.create_trial("tuner0").hyperparameters.values["units"] == 32
