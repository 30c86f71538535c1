"""KerasTuner's private names that kt-nasrepair relies on still exist and are still called.

pyproject.toml pins keras-tuner to the 1.4 line because of these hooks; the list and what each
is used for are in docs/guides/migrating.md. When a KerasTuner upgrade fails here, that page
and the code named in the message need updating before the pin is raised.
"""

import inspect

import keras_tuner
import pytest

from kt_nasrepair.oracles._encoding import values_hash

# (class, private name, parameters after self, the kt_nasrepair code that relies on it)
METHODS = [
    (keras_tuner.Tuner, "_build_and_fit_model", ["trial", "args", "kwargs"],
     "RepairTuner overrides it: the warm start happens between build and fit"),
    (keras_tuner.Tuner, "_try_build", ["hp"], "RepairTuner builds each trial's target model"),
    (keras_tuner.Tuner, "_build_hypermodel", ["hp"], "RepairTuner rebuilds a donor"),
    (keras_tuner.Tuner, "_get_checkpoint_fname", ["trial_id"],
     "RepairTuner loads a donor's best-epoch checkpoint"),
    (keras_tuner.Tuner, "_get_build_config_fname", ["trial_id"],
     "RepairTuner builds lazily built models from their build config"),
    (keras_tuner.Tuner, "_try_run_and_update_trial", ["trial", "fit_args", "fit_kwargs"],
     "population training runs KerasTuner's own trial loop once per member"),
    (keras_tuner.Tuner, "_is_worker", [], "RepairMixin.save"),
    (keras_tuner.Tuner, "_get_tuner_fname", [], "RepairMixin.save"),
    (keras_tuner.Oracle, "_record_values", ["trial"],
     "our oracles record trials added to oracle.trials directly"),
    (keras_tuner.Oracle, "_save_trial", ["trial"],
     "our oracles override it to write trial.json atomically"),
    (keras_tuner.Oracle, "_duplicate", ["values"], "our oracles never propose a tried config"),
    (keras_tuner.Oracle, "_get_trial_dir", ["trial_id"], "our oracles' atomic trial.json"),
    (keras_tuner.Oracle, "_get_oracle_fname", [], "our oracles' atomic oracle.json"),
    (keras_tuner.Oracle, "_compute_values_hash", ["values"],
     "kt_nasrepair.oracles._encoding.values_hash reproduces it"),
]


def _version(text):
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def test_keras_tuner_is_inside_the_pinned_range():
    version = _version(keras_tuner.__version__)
    assert (1, 4, 7) <= version < (1, 5), (
        f"keras-tuner {keras_tuner.__version__} is outside the range pyproject.toml pins "
        "(>=1.4.7,<1.5); see docs/guides/migrating.md before raising it"
    )


@pytest.mark.parametrize("cls, name, parameters, why", METHODS,
                         ids=[f"{c.__name__}.{n}" for c, n, _, _ in METHODS])
def test_private_method_exists_with_its_signature(cls, name, parameters, why):
    method = getattr(cls, name, None)
    assert callable(method), (
        f"keras-tuner {keras_tuner.__version__} has no {cls.__name__}.{name}, which "
        f"kt-nasrepair relies on ({why}); see docs/guides/migrating.md"
    )
    found = list(inspect.signature(method).parameters)[1:]
    assert found == parameters, (
        f"keras-tuner {keras_tuner.__version__} changed {cls.__name__}.{name}: parameters "
        f"{found}, expected {parameters} ({why})"
    )


def test_oracle_seed_state_and_tried_so_far_attributes(tmp_path):
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=1, seed=3)
    assert oracle._seed_state == 3  # our oracles set it so that seed=0 stays 0
    assert isinstance(oracle._tried_so_far, set)
    assert "tried_so_far" in oracle.get_state()  # our oracles sort it before saving


def test_oracle_retry_queue_is_reloaded_from_the_ongoing_trials(tmp_path):
    # RepairMixin.reload drops the finished trials KerasTuner's reload queues for retry.
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=2, seed=3)
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("tuner0")
    oracle.save()
    reloaded = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=2, seed=3)
    reloaded._set_project_dir(str(tmp_path), "p")
    reloaded.reload()
    assert reloaded._retry_queue == [trial.trial_id], "Oracle._retry_queue changed"
    assert reloaded.ongoing_trials == {}


def test_oracle_id_to_hash_and_save_best_epoch_attributes(tmp_path):
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=1, seed=3)
    assert isinstance(oracle._id_to_hash, dict)  # our oracles: trials added directly
    assert callable(keras_tuner.engine.tuner.maybe_distribute)
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    callback = SaveBestEpoch(objective=keras_tuner.Objective("val_loss", "min"),
                             filepath=str(tmp_path / "w.weights.h5"))
    for name in ("filepath", "best_value", "objective"):  # repair/checkpoints.py reads them
        assert hasattr(callback, name), f"SaveBestEpoch has no {name!r} any more"


def test_values_hash_is_keras_tuners_hash():
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=1)
    values = {"units": 32, "num_layers": 2, "activation": "relu", "lr": 0.001}
    assert values_hash(values) == oracle._compute_values_hash(values)


class _Recording(keras_tuner.Tuner):
    """A tuner whose `_build_and_fit_model` returns a known score without training."""

    calls = []

    def _build_and_fit_model(self, trial, *args, **kwargs):
        self.calls.append(("_build_and_fit_model", trial.trial_id))
        return {"loss": float(trial.hyperparameters.get("x"))}


class _RecordingOracle(keras_tuner.oracles.RandomSearchOracle):
    def _save_trial(self, trial):
        _Recording.calls.append(("_save_trial", trial.trial_id))
        super()._save_trial(trial)


def test_keras_tuner_still_calls_the_overridden_hooks(tmp_path):
    _Recording.calls = []
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    oracle = _RecordingOracle(objective="loss", max_trials=2, hyperparameters=hps, seed=1)
    tuner = _Recording(oracle=oracle, hypermodel=lambda hp: None, directory=str(tmp_path))
    tuner.search(verbose=0)
    fits = [trial_id for hook, trial_id in _Recording.calls if hook == "_build_and_fit_model"]
    saves = {trial_id for hook, trial_id in _Recording.calls if hook == "_save_trial"}
    assert len(fits) == 2, "Tuner.run_trial no longer calls _build_and_fit_model"
    assert set(fits) <= saves, "Oracle no longer saves trials through _save_trial"
    assert tuner._get_checkpoint_fname(fits[0]).startswith(tuner.get_trial_dir(fits[0]))
