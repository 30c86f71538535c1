"""QuasiRandomSearchOracle specifics and the two thin tuners."""

import keras_tuner
import numpy as np

from kt_nasrepair.oracles import EntropySearch
from kt_nasrepair.oracles import EntropySearchOracle
from kt_nasrepair.oracles import QuasiRandomSearch
from kt_nasrepair.oracles import QuasiRandomSearchOracle


def one_float_space():
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    return hps


def test_sobol_points_are_stratified(drive_oracle):
    # The first 2^k points of a (scrambled) Sobol sequence put exactly one
    # point in each of the 2^k equal intervals; independent draws rarely do.
    oracle = QuasiRandomSearchOracle(
        objective="loss", max_trials=16, seed=5, hyperparameters=one_float_space()
    )
    drive_oracle(oracle, lambda v: {"loss": v["x"]}, 16)
    xs = [t.hyperparameters.values["x"] for t in oracle.trials.values()]
    assert sorted(int(x * 16) for x in xs) == list(range(16))


class QuadraticRandomSearch(QuasiRandomSearch):
    def run_trial(self, trial, *args, **kwargs):
        return (trial.hyperparameters.Float("x", 0.0, 1.0) - 0.25) ** 2


class QuadraticEntropySearch(EntropySearch):
    def run_trial(self, trial, *args, **kwargs):
        return (trial.hyperparameters.Float("x", 0.0, 1.0) - 0.25) ** 2


def test_tuners_wire_their_oracles(tmp_path):
    random_tuner = QuadraticRandomSearch(
        max_trials=6, seed=1, directory=str(tmp_path), project_name="r"
    )
    entropy_tuner = QuadraticEntropySearch(
        max_trials=8, seed=1, num_initial_points=3, num_max_samples=4, num_candidates=64,
        directory=str(tmp_path), project_name="e",
    )
    assert isinstance(random_tuner.oracle, QuasiRandomSearchOracle)
    assert (random_tuner.oracle.max_trials, random_tuner.oracle.seed) == (6, 1)
    assert isinstance(entropy_tuner.oracle, EntropySearchOracle)
    assert (entropy_tuner.oracle.num_max_samples, entropy_tuner.oracle.num_candidates) == (4, 64)
    random_tuner.search(verbose=0)
    entropy_tuner.search(verbose=0)
    assert len(random_tuner.oracle.trials) == 6
    assert len(entropy_tuner.oracle.trials) == 8
    best = entropy_tuner.get_best_hyperparameters(1)[0]
    np.testing.assert_allclose(best.get("x"), 0.25, atol=0.05)


def build_nothing(hp):
    # KerasTuner builds once at construction to read the space; these tests never search.
    hp.Float("x", 0.0, 1.0)
    return None


def test_positional_arguments_mean_what_they_mean_in_keras_tuner():
    # keras_tuner.RandomSearchOracle(objective, max_trials, seed, hyperparameters, ...)
    hps = one_float_space()
    oracle = QuasiRandomSearchOracle("loss", 7, 3, hps, False, False, 2, 4)
    reference = keras_tuner.oracles.RandomSearchOracle("loss", 7, 3, hps, False, False, 2, 4)
    for name in ("max_trials", "seed", "allow_new_entries", "tune_new_entries",
                 "max_retries_per_trial", "max_consecutive_failed_trials"):
        assert getattr(oracle, name) == getattr(reference, name), name
    assert oracle.hyperparameters.get("x") == reference.hyperparameters.get("x")


def test_tuner_positional_arguments_reach_the_oracle_as_in_keras_tuner(tmp_path):
    # keras_tuner.RandomSearch(hypermodel, objective, max_trials, seed, hyperparameters,
    # tune_new_entries, allow_new_entries, ...): the tuner's order, not the oracle's.
    args = ("loss", 7, 3, one_float_space(), False, True, 2, 4)
    ours = QuasiRandomSearch(build_nothing, *args, directory=str(tmp_path), project_name="a")
    reference = keras_tuner.RandomSearch(build_nothing, *args, directory=str(tmp_path),
                                         project_name="b")
    entropy = EntropySearch(build_nothing, "loss", 7, 4, 5, 64, *args[2:],
                            directory=str(tmp_path), project_name="e")
    for name in ("max_trials", "seed", "allow_new_entries", "tune_new_entries",
                 "max_retries_per_trial", "max_consecutive_failed_trials"):
        assert getattr(ours.oracle, name) == getattr(reference.oracle, name), name
        assert getattr(entropy.oracle, name) == getattr(reference.oracle, name), name
    assert ours.seed == reference.seed == 3
    oracle = entropy.oracle
    assert (oracle.num_initial_points, oracle.num_max_samples, oracle.num_candidates) == (4, 5, 64)
