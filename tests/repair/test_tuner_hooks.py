"""`RepairMixin`'s KerasTuner hooks: per-trial bookkeeping cut, guarantees kept."""

import gc
import json
import os
import subprocess
import sys
import textwrap

import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.errors import FailedTrialError, FatalTypeError

import kt_nasrepair
from kt_nasrepair import DenseHyperModel, RepairTuner
from kt_nasrepair.repair import backend_state
from kt_nasrepair.repair import mixin as mixin_module
from kt_nasrepair.repair.backend_state import JAX_CACHE_DIRNAME
from kt_nasrepair.repair.mixin import RepairMixin
from kt_nasrepair.repair.trial_run import TrialRun

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# RepairTuner includes the mixin: it is the lean tuner.
LeanRepairTuner = RepairTuner


class PlainRepairTuner(RepairTuner):
    """The control: RepairTuner with KerasTuner's and RepairMixin's methods, no lean cuts."""

    def _try_build(self, hp):
        return keras_tuner.Tuner._try_build(self, hp)

    def donor_model(self, trial, weights=True):
        model = self._architecture(trial)
        return self._load_checkpoint(model, trial) if weights else model

    def save(self):
        return keras_tuner.Tuner.save(self)


def _hypermodel():
    return DenseHyperModel(input_shape=(8,), num_classes=3, num_layers=(1, 2), units=(2, 6, 2))


def _data(n=48):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, n)]
    return x, y


def _tuner(cls, tmp_path, max_trials=3, **kwargs):
    return cls(_hypermodel(), objective="val_accuracy", max_trials=max_trials,
               strategy="quasi_random", seed=3, donor_pool=1.0, directory=str(tmp_path),
               project_name="p", **kwargs)


def _count_clear_session(monkeypatch):
    calls = []
    original = keras.backend.clear_session
    monkeypatch.setattr(keras.backend, "clear_session",
                        lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    return calls


def test_lean_build_skips_the_session_reset(tmp_path, monkeypatch):
    hp = keras_tuner.HyperParameters()
    lean = _tuner(LeanRepairTuner, tmp_path / "lean")
    plain = _tuner(PlainRepairTuner, tmp_path / "plain")
    calls = _count_clear_session(monkeypatch)
    plain._try_build(hp.copy())
    assert len(calls) == 1  # the control: KerasTuner resets the session before a build
    model = lean._try_build(hp.copy())
    assert len(calls) == 1
    assert isinstance(model, keras.Model)


def test_lean_build_keeps_size_limit_and_type_check(tmp_path):
    tuner = _tuner(LeanRepairTuner, tmp_path, max_model_size=10)
    with pytest.raises(FailedTrialError, match="Oversized model: [0-9]+ parameters"):
        tuner._try_build(keras_tuner.HyperParameters())
    bad = LeanRepairTuner(lambda hp: "not a model", objective="val_accuracy", max_trials=1,
                          directory=str(tmp_path), project_name="bad")
    with pytest.raises(FatalTypeError, match="Received: not a model"):
        bad._try_build(keras_tuner.HyperParameters())


def _architecture_builds(monkeypatch):
    builds = {}
    original = RepairMixin._architecture

    def counted(self, trial):
        builds[trial.trial_id] = builds.get(trial.trial_id, 0) + 1
        return original(self, trial)

    monkeypatch.setattr(RepairMixin, "_architecture", counted)
    return builds


def _warm_start_twice(tuner, builds):
    """Warm-starts a new trial of the best trial's shape twice; the donor builds of each."""
    best = tuner.oracle.get_best_trials(1)[0]
    hp = best.hyperparameters.copy()
    trial = keras_tuner.engine.trial.Trial(hyperparameters=hp, trial_id="99", status="RUNNING")
    counts = []
    for _ in range(2):
        before = sum(builds.values())
        record = TrialRun(tuner, trial).warm_start(tuner._try_build(hp.copy())).to_dict()
        assert record["donor"] is not None, record  # same shape as the best: always reachable
        counts.append(sum(builds.values()) - before)
    return counts


@pytest.mark.slow
def test_donors_are_built_once_and_users_get_their_own_models(tmp_path, monkeypatch):
    x, y = _data()
    builds = _architecture_builds(monkeypatch)
    plain = _tuner(PlainRepairTuner, tmp_path / "plain", max_trials=2)
    plain.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    first, second = _warm_start_twice(plain, builds)
    assert first >= 1 and second >= 1  # the control: RepairTuner rebuilds donors every time

    builds.clear()
    lean = _tuner(LeanRepairTuner, tmp_path / "lean", max_trials=3)
    lean.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert builds and max(builds.values()) == 1, builds  # within the search too
    first, second = _warm_start_twice(lean, builds)
    assert second == 0

    best = lean.oracle.get_best_trials(1)[0]
    first, second = lean.load_model(best), lean.load_model(best)
    assert first is not second
    assert first is not lean._donor_models.get(best.trial_id)
    assert lean.donor_model(best, weights=False) is lean.donor_model(best, weights=False)
    np.testing.assert_allclose(first.predict(x, verbose=0), second.predict(x, verbose=0),
                               atol=1e-6)


def test_donor_cache_keeps_completed_trials_only_and_is_bounded(tmp_path, monkeypatch):
    tuner = _tuner(LeanRepairTuner, tmp_path)
    monkeypatch.setattr(RepairMixin, "_architecture", lambda self, trial: object())
    monkeypatch.setattr(mixin_module, "MAX_CACHED_DONORS", 2)

    def trial(trial_id, status="COMPLETED"):
        return keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id=trial_id,
                                              status=status)

    running = trial("r", status="RUNNING")
    assert tuner.donor_model(running, weights=False) is not tuner.donor_model(running, weights=False)
    a = tuner.donor_model(trial("a"), weights=False)
    assert tuner.donor_model(trial("a"), weights=False) is a
    tuner.donor_model(trial("b"), weights=False)
    tuner.donor_model(trial("a"), weights=False)  # a used last: b is the oldest
    tuner.donor_model(trial("c"), weights=False)
    assert list(tuner._donor_models) == ["a", "c"]


def test_tuner_file_written_once_and_again_when_missing(tmp_path, monkeypatch):
    tuner = _tuner(LeanRepairTuner, tmp_path)
    writes = []
    original = mixin_module.atomic_write_json
    monkeypatch.setattr(mixin_module, "atomic_write_json",
                        lambda path, data: (writes.append(path), original(path, data)))
    oracle_saves = []
    monkeypatch.setattr(tuner.oracle, "save", lambda: oracle_saves.append(1))
    for _ in range(3):
        tuner.save()
    fname = tuner._get_tuner_fname()
    assert writes == [fname]
    assert len(oracle_saves) == 3  # the oracle is saved on every call, as in KerasTuner
    os.remove(fname)
    tuner.save()
    assert writes == [fname, fname] and os.path.exists(fname)


@pytest.mark.slow
def test_lean_search_leaves_no_ongoing_trial_and_resumes(tmp_path):
    x, y = _data()
    tuner = _tuner(LeanRepairTuner, tmp_path, max_trials=2)
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    with open(os.path.join(tuner.project_dir, "oracle.json")) as f:
        state = json.load(f)
    # A finished trial left in ongoing_trials would be run again by a resumed search.
    assert state["ongoing_trials"] == {}
    resumed = _tuner(LeanRepairTuner, tmp_path, max_trials=3, overwrite=False)
    assert sorted(resumed.oracle.trials) == sorted(tuner.oracle.trials)
    resumed.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    statuses = [t.status for t in resumed.oracle.trials.values()]
    assert statuses == ["COMPLETED"] * 3


def test_jax_cache_is_left_alone_on_other_backends(tmp_path):
    if keras.backend.backend() == "jax":
        pytest.skip("checks the non-JAX path; the JAX path has its own test")
    assert backend_state.enable_jax_compilation_cache(str(tmp_path / "cache")) is None
    assert not (tmp_path / "cache").exists()


JAX_SCRIPT = textwrap.dedent("""
    import os, sys
    import numpy as np
    import keras
    assert keras.backend.backend() == "jax"
    from kt_nasrepair import DenseHyperModel, RepairTuner

    Lean = RepairTuner

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 32)]
    tuner = Lean(DenseHyperModel(input_shape=(8,), num_classes=3, num_layers=(1, 1),
                                 units=(2, 4, 2)),
                 objective="val_accuracy", max_trials=1, strategy="quasi_random", seed=0,
                 directory=sys.argv[1], project_name="p")
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    import jax
    print("CACHE", jax.config.jax_compilation_cache_dir)
""")


@pytest.mark.slow
def test_jax_compilation_cache_gets_entries_in_the_project(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    cache = tmp_path / "p" / JAX_CACHE_DIRNAME
    assert f"CACHE {cache}" in done.stdout
    entries = [p for p in cache.iterdir() if p.is_file()]
    # At least the train and test steps of the one model, plus its initializers.
    assert len(entries) >= 2, sorted(p.name for p in cache.iterdir())


def test_one_mixin_serves_every_repair_tuner_and_refuses_to_follow_the_tuner():
    for cls in (RepairTuner, kt_nasrepair.with_repair(keras_tuner.Hyperband)):
        assert cls.donor_model is RepairMixin.donor_model and cls.save is RepairMixin.save
        assert cls.__mro__.index(RepairMixin) < cls.__mro__.index(keras_tuner.Tuner)
    with pytest.raises(TypeError, match="put RepairMixin before the tuner class"):
        type("Late", (keras_tuner.RandomSearch, RepairMixin), {})
    # A mixin of the user's may come first; a substitute named like KerasTuner's is no tuner.
    type("Mine", (type("UserMixin", (), {}), RepairTuner), {})
    type("MyTuner", (type("Tuner", (RepairTuner,), {}),), {})


def _live_graphs():
    gc.collect()
    return sum(type(o).__name__ == "FuncGraph" for o in gc.get_objects())


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's gradient registry is what keeps graphs alive")
def test_a_finished_trial_leaves_no_training_graph_behind(tmp_path):
    # Each traced training step registers a custom gradient in TensorFlow's process-wide
    # registry that holds its graph; before the release, every trial left its graphs there
    # (two per trial here) and resident memory grew 6-9 MB a trial (docs/performance.md).
    def build(hp):
        model = keras.Sequential([keras.Input((8,)),
                                  keras.layers.Dense(hp.Int("units", 2, 32), activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    class Counting(kt_nasrepair.with_repair(keras_tuner.RandomSearch)):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            self.counts.append((len(backend_state.custom_gradient_names()), _live_graphs()))

    tuner = Counting(build, objective="val_accuracy", max_trials=4, seed=1,
                     directory=str(tmp_path), project_name="p")
    tuner.counts = []
    x, y = _data()
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    (registered_first, graphs_first), *_, (registered_last, graphs_last) = tuner.counts
    assert len(tuner.counts) == 4
    assert registered_last == registered_first, tuner.counts
    assert graphs_last <= graphs_first + 1, tuner.counts


def test_the_gradient_release_drops_only_the_trials_own_registrations(monkeypatch):
    registry = {"CustomGradient-1": "kept", "Relu": "kept", "CustomGradient-7": "trial's"}
    monkeypatch.setattr(backend_state, "_tf_gradient_registry", lambda: registry)
    assert backend_state.release_trial_gradients(frozenset({"CustomGradient-1"})) == 1
    assert registry == {"CustomGradient-1": "kept", "Relu": "kept"}
