"""GrowOracle: seeds, growth from completed trials, exploration share, state."""

import collections
import copy
import json
import math

import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import DenseHyperModel
from kt_nasrepair import morph
from kt_nasrepair.oracles import GrowOracle
from kt_nasrepair.oracles import _grow_acquisition as grow_acquisition
from kt_nasrepair.oracles._encoding import values_hash
from kt_nasrepair.oracles._reachability import dense_reachable

UNITS = list(range(8, 65, 8))


def hypermodel(per_layer_units=True):
    return DenseHyperModel(input_shape=(6,), num_classes=3, num_layers=(1, 5), units=(8, 64, 8),
                           per_layer_units=per_layer_units, learning_rate=(1e-4, 1e-2))


def space(per_layer_units=True):
    hps = keras_tuner.HyperParameters()
    hypermodel(per_layer_units).build(hps)
    return hps


def widths(values):
    depth = values["num_layers"]
    if "units" in values:
        return [values["units"]] * depth
    return [values[f"units_{i}"] for i in range(depth)]


def accuracy(values):
    """Grows with total width (so with width and depth); best learning rate 10**-2.5."""
    return (1.0 - math.exp(-sum(widths(values)) / 150.0)
            - 0.05 * (math.log10(values["learning_rate"]) + 2.5) ** 2)


def grow_oracle(**kwargs):
    settings = dict(objective=keras_tuner.Objective("acc", "max"), max_trials=40, seed=0,
                    hyperparameters=space(kwargs.pop("per_layer_units", True)))
    return GrowOracle(**{**settings, **kwargs})


def run(drive_oracle, oracle, num_trials):
    drive_oracle(oracle, lambda v: {"acc": accuracy(v)}, num_trials)
    return [(i, oracle.trials[i].hyperparameters.values) for i in oracle.start_order]


@pytest.mark.parametrize("per_layer_units", [True, False])
def test_proposals_are_valid_and_never_repeat(drive_oracle, per_layer_units):
    oracle = grow_oracle(per_layer_units=per_layer_units, max_trials=30)
    trials = run(drive_oracle, oracle, 30)
    assert len(trials) == 30
    for _, values in trials:
        assert 1 <= values["num_layers"] <= 5
        assert all(w in UNITS for w in widths(values))
        assert 1e-4 <= values["learning_rate"] <= 1e-2
        # Only the user's hyperparameters, and only the active ones.
        expected = {"num_layers", "learning_rate"} | (
            {f"units_{i}" for i in range(values["num_layers"])} if per_layer_units else {"units"})
        assert set(values) == expected
    assert len({values_hash(v) for _, v in trials}) == 30


@pytest.mark.parametrize("per_layer_units", [True, False])
def test_grown_trials_are_reachable_from_a_completed_trial(drive_oracle, per_layer_units):
    oracle = grow_oracle(per_layer_units=per_layer_units, max_trials=30, seed=3)
    trials = run(drive_oracle, oracle, 30)
    kinds = [oracle.proposal_kind(i) for i, _ in trials]
    assert kinds[:5] == ["seed"] * 5
    assert set(kinds[5:]) <= {"grow", "explore", "cold"}
    assert kinds.count("grow") >= 15
    position = {trial_id: k for k, (trial_id, _) in enumerate(trials)}
    spot_checks = []
    for k, (trial_id, values) in enumerate(trials):
        parent = oracle.parent_of(trial_id)
        if kinds[k] != "grow":
            assert parent is None
            continue
        # The parent ran before the child (drive_oracle completes each trial in turn) and
        # was then in the top quarter (`top_fraction=0.25`) of the completed trials.
        assert position[parent] < k
        earlier = sorted((oracle.trials[i].score for i, _ in trials[:k]), reverse=True)
        assert oracle.trials[parent].score >= earlier[math.ceil(0.25 * k) - 1]
        parent_values = oracle.trials[parent].hyperparameters.values
        assert dense_reachable(parent_values, values, per_layer_units=per_layer_units)
        # At most two growth steps: each added layer is one, each width grid step (8
        # units) is one. An added layer is as wide as the last (after or before that one
        # is widened), or one step wider.
        old, new = widths(parent_values), widths(values)
        steps = len(new) - len(old)
        if "units" in values:
            steps += (new[0] - old[0]) // 8
        else:
            steps += sum((b - a) // 8 for a, b in zip(old, new))
            assert all(old[-1] <= w <= new[len(old) - 1] + 8 for w in new[len(old):])
        assert 0 <= steps <= 2, (parent_values, values)
        spot_checks.append((parent_values, values))
    model = hypermodel(per_layer_units)
    for parent_values, values in spot_checks[:: max(1, len(spot_checks) // 4)]:
        donor, target = space(per_layer_units), space(per_layer_units)
        donor.values, target.values = dict(parent_values), dict(values)
        ok, reason = morph.can_transfer(model.build(donor), model.build(target))
        assert ok, reason


def test_seeds_are_small(drive_oracle):
    oracle = grow_oracle(num_initial_points=8, max_trials=8)
    trials = run(drive_oracle, oracle, 8)
    for _, values in trials:
        # The lower third of depth 1..5 and of widths 8..64 (8 values: the lowest 3).
        assert values["num_layers"] <= 2
        assert max(widths(values)) <= 24


@pytest.mark.slow
def test_cold_exploration_share_is_close_to_explore_probability(drive_oracle):
    oracle = grow_oracle(explore_probability=0.3, num_initial_points=3, max_trials=123, seed=1)
    trials = run(drive_oracle, oracle, 123)
    kinds = [oracle.proposal_kind(i) for i, _ in trials[3:]]
    share = kinds.count("explore") / len(kinds)
    # 120 Bernoulli(0.3) draws: standard deviation 0.042; 3 of them.
    assert abs(share - 0.3) < 0.125, collections.Counter(kinds)


def test_explore_probability_one_and_zero(drive_oracle):
    always = grow_oracle(explore_probability=1.0, num_initial_points=3, max_trials=12)
    never = grow_oracle(explore_probability=0.0, num_initial_points=3, max_trials=12)
    kinds_always = [always.proposal_kind(i) for i, _ in run(drive_oracle, always, 12)[3:]]
    kinds_never = [never.proposal_kind(i) for i, _ in run(drive_oracle, never, 12)[3:]]
    assert kinds_always == ["explore"] * 9
    assert "explore" not in kinds_never and kinds_never.count("grow") >= 6


def test_state_round_trips_with_parents(drive_oracle):
    oracle = grow_oracle(max_trials=20)
    run(drive_oracle, oracle, 12)
    state = json.loads(json.dumps(oracle.get_state()))
    assert list(state["grow_proposals"]) == sorted(state["grow_proposals"])
    other = grow_oracle(max_trials=20, seed=7)
    other.trials = oracle.trials
    # A copy: KerasTuner's `HyperParameters.from_config` turns the conditions of the dict
    # it is given into objects.
    other.set_state(copy.deepcopy(state))
    assert json.loads(json.dumps(other.get_state())) == state
    for trial_id in oracle.start_order:
        assert other.parent_of(trial_id) == oracle.parent_of(trial_id)
        assert other.proposal_kind(trial_id) == oracle.proposal_kind(trial_id)
    assert any(other.parent_of(i) is not None for i in oracle.start_order)


def test_reloaded_search_keeps_parents_and_continues(function_tuner):
    def search(max_trials, overwrite):
        oracle = grow_oracle(max_trials=max_trials)
        function_tuner(oracle, lambda hp: {"acc": accuracy(hp.values)}, name="grow",
                       overwrite=overwrite).search(verbose=0)
        return oracle

    first = search(10, True)
    resumed = search(16, False)
    assert len(resumed.trials) == 16
    for trial_id in first.start_order:
        assert resumed.parent_of(trial_id) == first.parent_of(trial_id)
    assert all(resumed.proposal_kind(i) is not None for i in resumed.start_order)
    hashes = [values_hash(resumed.trials[i].hyperparameters.values) for i in resumed.start_order]
    assert len(set(hashes)) == 16


@pytest.mark.parametrize("blind", [False, True])
def test_exhausted_space_stops_after_every_configuration_once(function_tuner, monkeypatch, blind):
    if blind:
        # An acquisition that cannot tell tried neighbours from untried ones: only the
        # duplicate check keeps the search from proposing a configuration twice.
        monkeypatch.setattr(grow_acquisition, "expected_improvement",
                            lambda mean, std, best: np.ones(len(mean)))
    hps = keras_tuner.HyperParameters()
    hps.Int("num_layers", 1, 3)
    hps.Int("units", 1, 4)
    oracle = GrowOracle(objective="loss", max_trials=30, seed=0, num_initial_points=2,
                        explore_probability=0.0, num_cold_candidates=0, hyperparameters=hps)
    function_tuner(oracle, lambda hp: {"loss": -hp.get("units") * hp.get("num_layers")}).search(
        verbose=0)
    assert len(oracle.trials) == 12
    hashes = {values_hash(t.hyperparameters.values) for t in oracle.trials.values()}
    assert len(hashes) == 12
    assert oracle.create_trial("another").status == "STOPPED"


def test_search_climbs_with_width_and_depth(function_tuner):
    oracle = grow_oracle(max_trials=30, seed=2)
    function_tuner(oracle, lambda hp: {"acc": accuracy(hp.values)}).search(verbose=0)
    scores = [oracle.trials[i].score for i in oracle.start_order]
    sizes = [sum(widths(oracle.trials[i].hyperparameters.values)) for i in oracle.start_order]
    # Seeds are small (total width <= 48: accuracy <= 0.28); the optimum is 0.882.
    assert max(scores[:5]) < 0.3
    assert max(scores) > 0.8
    best = int(np.argmax(scores))
    assert sizes[best] > 3 * max(sizes[:5])
    # The best trial is at the end of a lineage of grown trials.
    depth, trial_id = 0, oracle.start_order[best]
    while oracle.parent_of(trial_id) is not None:
        trial_id, depth = oracle.parent_of(trial_id), depth + 1
    assert depth >= 3


@pytest.mark.parametrize(
    "name, value, accepted",
    [
        ("num_initial_points", 0, "an integer >= 1"),
        ("explore_probability", 1.5, r"a number in \[0, 1\]"),
        ("warm_cost_ratio", 0, r"a number in \(0, 1\]"),
        ("top_fraction", "half", r"a number in \(0, 1\]"),
        ("initial_fraction", -0.1, r"a number in \(0, 1\]"),
        ("num_cold_candidates", -1, "an integer >= 0"),
        ("input_units", 0, "None or an integer >= 1"),
        ("activation", "not_an_activation", "a Keras activation name"),
        ("units_name", "", "a non-empty string"),
    ],
)
def test_bad_arguments_name_the_argument(name, value, accepted):
    with pytest.raises(ValueError, match=rf"`{name}` must be {accepted}.*Received: {name}="):
        GrowOracle(**{name: value})


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        GrowOracle("val_accuracy")


def test_expected_improvement_known_values():
    # At the incumbent with sigma = 1: EI = phi(0); far below it: ~0; far above: the gap.
    ei = grow_acquisition.expected_improvement([1.0, -9.0, 6.0], [1.0, 1.0, 1.0], best=1.0)
    np.testing.assert_allclose(ei, [1 / math.sqrt(2 * math.pi), 0.0, 5.0], atol=1e-12)


def test_cost_line_and_warm_ratio():
    alpha, beta = grow_acquisition.fit_cost_line([100, 200, 400], [2.0, 3.0, 5.0])
    np.testing.assert_allclose([alpha, beta], [1.0, 0.01], rtol=1e-9)
    # Noise that makes larger networks look cheaper is not believed: a constant cost.
    assert grow_acquisition.fit_cost_line([100, 200], [3.0, 2.0]) == (2.5, 0.0)
    cost = grow_acquisition.predicted_cost([100, 100], alpha, beta, [0.4, 1.0])
    np.testing.assert_allclose(cost, [0.8, 2.0])


def test_user_build_model_with_the_same_names(function_tuner):
    # The common KerasTuner idiom: one `units_i` per layer, declared without conditions
    # as the depth first reaches it (so the space grows during the search).
    def build(hp):
        depth = hp.Int("num_layers", 1, 4)
        sizes = [hp.Int(f"units_{i}", 8, 32, step=8) for i in range(depth)]
        lr = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        return {"acc": 1 - math.exp(-sum(sizes) / 40) - 0.05 * (math.log10(lr) + 2.5) ** 2}

    oracle = GrowOracle(objective=keras_tuner.Objective("acc", "max"), max_trials=20, seed=4,
                        num_initial_points=3)
    function_tuner(oracle, build).search(verbose=0)
    kinds = [oracle.proposal_kind(i) for i in oracle.start_order]
    assert kinds.count("grow") >= 8
    for trial_id in oracle.start_order:
        parent = oracle.parent_of(trial_id)
        if parent is not None:
            assert dense_reachable(oracle.trials[parent].hyperparameters.values,
                                   oracle.trials[trial_id].hyperparameters.values)
    depths = [oracle.trials[i].hyperparameters.values["num_layers"] for i in oracle.start_order]
    assert max(depths) >= 3
    assert max(t.score for t in oracle.trials.values()) > 0.9
