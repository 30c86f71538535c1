"""QuasiRandomSearchOracle specifics and the two thin tuners."""

import keras_tuner
import numpy as np
import pytest

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


def test_uniform_sampler_is_seeded_and_exhausts_a_finite_space(drive_oracle, tmp_path):
    hps = keras_tuner.HyperParameters()
    hps.Int("a", 1, 4)
    hps.Choice("b", ["x", "y", "z"])
    oracle = QuasiRandomSearchOracle(
        objective="loss", max_trials=50, seed=3, sampler="uniform", hyperparameters=hps
    )
    stopped = drive_oracle(oracle, lambda v: {"loss": v["a"]}, 50)
    assert stopped is not None and stopped.status == "STOPPED"
    configs = {(t.hyperparameters.values["a"], t.hyperparameters.values["b"]) for t in oracle.trials.values()}
    assert len(oracle.trials) == len(configs) == 12


class QuadraticRandomSearch(QuasiRandomSearch):
    def run_trial(self, trial, *args, **kwargs):
        return (trial.hyperparameters.Float("x", 0.0, 1.0) - 0.25) ** 2


class QuadraticEntropySearch(EntropySearch):
    def run_trial(self, trial, *args, **kwargs):
        return (trial.hyperparameters.Float("x", 0.0, 1.0) - 0.25) ** 2


def test_tuners_wire_their_oracles(tmp_path):
    random_tuner = QuadraticRandomSearch(
        max_trials=6, seed=1, sampler="uniform", directory=str(tmp_path), project_name="r"
    )
    entropy_tuner = QuadraticEntropySearch(
        max_trials=8, seed=1, num_initial_points=3, num_max_samples=4, num_candidates=64,
        cost_aware=True, directory=str(tmp_path), project_name="e",
    )
    assert isinstance(random_tuner.oracle, QuasiRandomSearchOracle)
    assert random_tuner.oracle.sampler == "uniform"
    assert isinstance(entropy_tuner.oracle, EntropySearchOracle)
    assert (entropy_tuner.oracle.num_max_samples, entropy_tuner.oracle.cost_aware) == (4, True)
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
    assert oracle.sampler == "sobol"


def test_sampler_is_keyword_only(tmp_path):
    with pytest.raises(TypeError, match="positional"):
        QuasiRandomSearchOracle("loss", 7, 3, one_float_space(), True, True, 0, 3, "uniform")
    with pytest.raises(TypeError, match="positional"):
        QuasiRandomSearch(build_nothing, "loss", 7, 3, None, True, True, 0, 3, "uniform")
    tuner = QuasiRandomSearch(
        build_nothing, "loss", 7, 3, sampler="uniform", directory=str(tmp_path), project_name="k"
    )
    assert (tuner.oracle.sampler, tuner.oracle.max_trials, tuner.oracle.seed) == ("uniform", 7, 3)
