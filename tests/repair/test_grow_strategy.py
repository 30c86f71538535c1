"""`RepairTuner(strategy="grow")`: grown trials are warm-started from the trial they grew from."""

import math

import pytest

from kt_nasrepair import DenseHyperModel, RepairTuner, morph


@pytest.mark.slow
def test_grown_trials_start_from_their_parent(tmp_path, digits_data):
    (x, y), (x_val, y_val) = digits_data
    hypermodel = DenseHyperModel.mnist_seed(input_shape=(64,))
    tuner = RepairTuner(hypermodel, objective="val_accuracy", strategy="grow", max_trials=9,
                        seed=3, warm_epochs="auto", directory=tmp_path, project_name="grow")
    assert tuner.oracle.input_units == 64 and tuner.oracle.activation == "relu"
    tuner.search(x, y, epochs=2, validation_data=(x_val, y_val), verbose=0)
    oracle, lineage = tuner.oracle, tuner.lineage()
    trials = oracle.trials
    assert len(trials) == 9 and all(t.status == "COMPLETED" for t in trials.values())
    grown = [tid for tid in trials if oracle.proposal_kind(tid) == "grow"]
    assert grown, {tid: oracle.proposal_kind(tid) for tid in trials}
    for tid in grown:
        record, parent = lineage[tid], oracle.parent_of(tid)
        assert record["donor"] == parent, record
        donor = hypermodel.build(trials[parent].hyperparameters.copy())
        assert morph.can_transfer(donor, hypermodel.build(trials[tid].hyperparameters.copy()))[0]
        assert record["warm_epochs"] == 1 and record["epochs_trained"] in (1, 2)
        assert math.isfinite(trials[tid].score)


def test_a_parent_outside_the_donor_pool_is_still_tried_first(tmp_path, monkeypatch):
    from keras_tuner.engine.trial import Trial

    tuner = RepairTuner(DenseHyperModel.mnist_seed(input_shape=(64,)), objective="val_accuracy",
                        strategy="grow", max_trials=3, directory=tmp_path, project_name="p")
    hp = tuner.oracle.hyperparameters.copy()
    parent, other = Trial(hp, trial_id="p", status="COMPLETED"), Trial(hp, trial_id="o",
                                                                        status="COMPLETED")
    parent.score, other.score = 0.5, 0.9
    tuner.oracle.trials["p"] = parent
    monkeypatch.setattr(tuner.oracle, "parent_of", lambda trial_id: "p")
    assert [t.trial_id for t in tuner._prefer_parent("new", [other])] == ["p", "o"]
    parent.score = float("nan")  # a parent that diverged is no donor
    assert [t.trial_id for t in tuner._prefer_parent("new", [other])] == ["o"]
