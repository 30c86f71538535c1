"""Property tests: any KerasTuner search space round-trips through the unit cube, and every
value our oracles propose is valid for its hyperparameter."""

import contextlib
import itertools
import math
import tempfile

import keras_tuner
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keras_tuner.engine import hyperparameters as hp_module

from kt_nasrepair.oracles import EntropySearchOracle, QuasiRandomSearchOracle
from kt_nasrepair.oracles._encoding import UnitCubeEncoder, values_hash

_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- search spaces ---------------------------------------------------------------------------

_SAMPLINGS = ["linear", "log", "reverse_log"]
_FLOAT_STEPS = [0.05, 0.1, 0.2, 0.25, 0.3, 0.5, 1.0, 2.5]


@st.composite
def _int_hp(draw, name, finite=False):
    sampling = draw(st.sampled_from(_SAMPLINGS))
    positive = sampling != "linear"
    low = draw(st.integers(1, 50) if positive else st.integers(-50, 50))
    high = low + draw(st.integers(0, 12 if finite else 200))
    if positive:
        step = draw(st.none() | st.integers(2, 4))
    else:
        step = draw(st.none() | st.integers(1, 25))
    return lambda hps: hps.Int(name, low, high, step=step, sampling=sampling)


@st.composite
def _float_hp(draw, name, finite=False):
    sampling = draw(st.sampled_from(_SAMPLINGS))
    if sampling == "linear":
        low = draw(st.sampled_from([-1.0, 0.0, 0.1, 0.5, 3.0]))
        steps = st.sampled_from(_FLOAT_STEPS)
        step = draw(steps if finite else st.none() | steps)
        # NOTE: widths are multiples of the step, as in real spaces (0.0-0.5 by 0.1), so the
        # top of the range is a grid value whose `(value - min) // step` suffers rounding.
        width = (step or 0.1) * draw(st.integers(0, 6 if finite else 30))
    else:
        low = draw(st.sampled_from([1e-5, 1e-4, 1e-3, 0.01, 0.5, 2.0]))
        steps = st.sampled_from([1.5, 2.0, 3.0, 10.0])
        step = draw(steps if finite else st.none() | steps)
        width = low * draw(st.sampled_from([0.0, 1.0, 9.0, 99.0, 999.0]))
    return lambda hps: hps.Float(name, low, low + width, step=step, sampling=sampling)


@st.composite
def _choice_hp(draw, name):
    kind = draw(st.sampled_from(["int", "float", "str"]))
    elements = {
        "int": st.integers(-100, 100),
        "float": st.floats(-10, 10, allow_nan=False).map(lambda v: round(v, 3) + 0.0),
        "str": st.text("abcdefgh", min_size=1, max_size=4),
    }[kind]
    values = draw(st.lists(elements, min_size=1, max_size=5, unique=True))
    ordered = False if kind == "str" else draw(st.booleans())
    return lambda hps: hps.Choice(name, values, ordered=ordered)


@st.composite
def _fixed_hp(draw, name):
    value = draw(st.integers(-5, 5) | st.sampled_from([0.5, "adam", True]))
    return lambda hps: hps.Fixed(name, value)


def _declaration(name, finite):
    return st.one_of(
        _int_hp(name, finite),
        _float_hp(name, finite),
        _choice_hp(name),
        st.just(lambda hps: hps.Boolean(name)),
        _fixed_hp(name),
    )


@st.composite
def search_spaces(draw, max_size=5, finite=False):
    """A `HyperParameters` with 1..max_size entries, some conditional on an earlier
    `Choice`/`Boolean` (itself possibly conditional: nested scopes). `finite`: only
    discrete entries with few values."""
    hps = keras_tuner.HyperParameters()
    for i in range(draw(st.integers(1, max_size))):
        declare = draw(_declaration(f"hp{i}", finite))
        parents = [
            hp for hp in hps.space if isinstance(hp, (hp_module.Choice, hp_module.Boolean))
        ]
        parent = draw(st.none() | st.sampled_from(parents)) if parents else None
        if parent is None:
            declare(hps)
            continue
        parent_values = draw(
            st.lists(st.sampled_from(list(parent.values)), min_size=1, unique=True)
        )
        with contextlib.ExitStack() as scopes:
            # A scope opens only where its parent was declared: inside the parent's scopes.
            for condition in parent.conditions:
                scopes.enter_context(hps.conditional_scope(condition.name, condition.values))
            scopes.enter_context(hps.conditional_scope(parent.name, parent_values))
            declare(hps)
    return hps


def finite_spaces(max_configs):
    """Search spaces without continuous entries and with at most `max_configs` configs."""
    return search_spaces(max_size=3, finite=True).filter(
        lambda hps: (n := _count_configs(hps)) is not None and 1 <= n <= max_configs
    )


# -- an independent definition of "valid" ----------------------------------------------------


def _grid(hp):
    """Every value `hp` can take (None when continuous), straight from its definition."""
    if isinstance(hp, hp_module.Fixed):
        return [hp.value]
    if isinstance(hp, hp_module.Boolean):
        return [False, True]
    if isinstance(hp, hp_module.Choice):
        return list(hp.values)
    if isinstance(hp, hp_module.Int) and hp.step is None:
        return list(range(hp.min_value, hp.max_value + 1))
    if hp.step is None:
        return None
    return [hp._get_value_by_index(i) for i in range(hp._get_n_values())]


def assert_valid(hp, value):
    """`value` is in range, on the step grid, among the choices, of the right type."""
    if isinstance(hp, (hp_module.Fixed, hp_module.Choice, hp_module.Boolean)):
        assert value in _grid(hp) and type(value) is type(_grid(hp)[0]), (hp, value)
        return
    if isinstance(hp, hp_module.Int):
        assert type(value) is int, (hp, value)
        grid = _grid(hp)
        assert value in [int(v) for v in grid], (hp, value)
        return
    assert isinstance(value, float), (hp, value)
    tolerance = 1e-9 * max(1.0, abs(hp.max_value))
    assert hp.min_value - tolerance <= value <= hp.max_value + tolerance or (
        hp.step is not None and any(math.isclose(value, g) for g in _grid(hp))
    ), (hp, value)
    if hp.step is not None:
        assert any(math.isclose(value, g, rel_tol=1e-9, abs_tol=1e-12) for g in _grid(hp)), (
            hp, value)


def assert_valid_values(space, values):
    """Active hyperparameters have a valid value; inactive ones have none."""
    active = keras_tuner.HyperParameters()
    for hp in space.space:
        active.merge([hp])
        if active.is_active(hp):
            assert hp.name in values, (hp, values)
            assert_valid(hp, values[hp.name])
            active.values[hp.name] = values[hp.name]
        else:
            assert hp.name not in values, (hp, values)
    assert set(values) <= {hp.name for hp in space.space}


def assert_same_values(actual, expected):
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        if isinstance(value, float):
            # NOTE: the encoder keeps probabilities below 1 - 1e-9, so the top of a
            # continuous range comes back within ~1e-8 of it (relative, log sampling).
            assert math.isclose(actual[name], value, rel_tol=1e-7, abs_tol=1e-9), (
                name, actual[name], value)
        else:
            assert actual[name] == value and type(actual[name]) is type(value), name


def _count_configs(hps):
    """Distinct active configurations of a space without continuous entries, or None."""
    grids = [_grid(hp) for hp in hps.space]
    if any(g is None for g in grids) or math.prod(len(g) for g in grids) > 5000:
        return None
    seen = set()
    for combination in itertools.product(*grids):
        active = keras_tuner.HyperParameters()
        for hp, value in zip(hps.space, combination):
            active.merge([hp])
            if active.is_active(hp):
                active.values[hp.name] = value
        seen.add(values_hash(active.values))
    return len(seen)


@st.composite
def valid_values(draw, hps):
    """Active values of `hps`, drawn from each hyperparameter's definition."""
    active = keras_tuner.HyperParameters()
    for hp in hps.space:
        active.merge([hp])
        if not active.is_active(hp):
            continue
        grid = _grid(hp)
        if grid is None:
            low, high = hp.min_value, hp.max_value
            value = draw(st.floats(low, high)) if low < high else low
        else:
            value = draw(st.sampled_from(grid))
            value = int(value) if isinstance(hp, hp_module.Int) else value
        active.values[hp.name] = value
    return dict(active.values)


# -- the encoder ---------------------------------------------------------------------------


@settings(max_examples=200, **_SETTINGS)
@given(data=st.data(), hps=search_spaces())
def test_encode_then_decode_gives_back_the_values(data, hps):
    encoder = UnitCubeEncoder(hps)
    values = data.draw(valid_values(hps))
    features = encoder.encode(values)
    assert features.shape == (encoder.num_features,)
    assert np.all((features >= 0.0) & (features <= 1.0)), features
    assert_same_values(encoder.decode(features), values)


@settings(max_examples=200, **_SETTINGS)
@given(data=st.data(), hps=search_spaces())
def test_probabilities_round_trip_and_stay_in_the_unit_cube(data, hps):
    encoder = UnitCubeEncoder(hps)
    values = data.draw(valid_values(hps))
    probs = encoder.values_to_probs(values)
    assert probs.shape == (encoder.num_probs,)
    assert np.all((probs >= 0.0) & (probs <= 1.0)), probs
    assert_same_values(encoder.probs_to_values(probs), values)


@settings(max_examples=150, **_SETTINGS)
@given(hps=search_spaces(), probs=st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5))
def test_any_point_of_the_cube_decodes_to_valid_values(hps, probs):
    encoder = UnitCubeEncoder(hps)
    point = np.array(probs[: encoder.num_probs])
    values = encoder.probs_to_values(point)
    assert_valid_values(hps, values)
    # The batch path used for candidate sets agrees with encoding one point at a time.
    np.testing.assert_allclose(
        encoder.probs_to_features(point[None])[0], encoder.encode(values), atol=1e-12
    )
    assert_same_values(encoder.decode(encoder.encode(values)), values)


@settings(max_examples=80, **_SETTINGS)
@given(hps=finite_spaces(max_configs=60))
def test_enumerate_lists_every_configuration_once(hps):
    configs = UnitCubeEncoder(hps).enumerate(limit=10_000)
    assert configs is not None
    assert len({values_hash(v) for v in configs}) == len(configs) == _count_configs(hps)
    for values in configs:
        assert_valid_values(hps, values)


# -- the oracles -----------------------------------------------------------------------------


def _drive(oracle, num_trials):
    """Creates and completes trials through the Oracle API; returns the proposed values."""
    proposed = []
    with tempfile.TemporaryDirectory() as directory:
        oracle._set_project_dir(directory, "oracle")
        oracle.verbose = 0
        rng = np.random.default_rng(0)
        for _ in range(num_trials):
            trial = oracle.create_trial("tuner0")
            if trial.status != "RUNNING":
                break
            proposed.append(dict(trial.hyperparameters.values))
            oracle.update_trial(trial.trial_id, {"loss": float(rng.uniform())})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
    return proposed


def _entropy_oracle(hps, seed, max_trials):
    return EntropySearchOracle(objective="loss", max_trials=max_trials, seed=seed,
                               num_initial_points=2, num_candidates=64, hyperparameters=hps)


def _random_oracle(hps, seed, max_trials):
    return QuasiRandomSearchOracle(objective="loss", max_trials=max_trials, seed=seed,
                              hyperparameters=hps)


@settings(max_examples=60, **_SETTINGS)
@given(hps=search_spaces(), seed=st.integers(0, 2**16))
def test_random_search_proposes_only_valid_values(hps, seed):
    oracle = QuasiRandomSearchOracle(objective="loss", max_trials=6, seed=seed,
                                     hyperparameters=hps)
    proposed = _drive(oracle, 6)
    assert proposed
    for values in proposed:
        assert_valid_values(hps, values)
    assert len({values_hash(v) for v in proposed}) == len(proposed)


@settings(max_examples=20, **_SETTINGS)
@given(hps=search_spaces(max_size=4), seed=st.integers(0, 2**16))
def test_entropy_search_proposes_only_valid_values(hps, seed):
    # Two quasi-random trials, then three proposals from the GP and the MES acquisition.
    proposed = _drive(_entropy_oracle(hps, seed, max_trials=5), 5)
    assert proposed
    for values in proposed:
        assert_valid_values(hps, values)
    assert len({values_hash(v) for v in proposed}) == len(proposed)


@settings(max_examples=40, **_SETTINGS)
@given(hps=finite_spaces(max_configs=12), seed=st.integers(0, 2**16))
def test_random_search_tries_every_configuration_of_a_finite_space(hps, seed):
    size = _count_configs(hps)
    proposed = _drive(_random_oracle(hps, seed, max_trials=size + 5), size + 5)
    # Every configuration exactly once, then STOPPED (not earlier, not later).
    assert len({values_hash(v) for v in proposed}) == len(proposed) == size


@settings(max_examples=10, **_SETTINGS)
@given(hps=finite_spaces(max_configs=8), seed=st.integers(0, 2**16))
def test_entropy_search_tries_every_configuration_of_a_finite_space(hps, seed):
    size = _count_configs(hps)
    proposed = _drive(_entropy_oracle(hps, seed, max_trials=size + 3), size + 3)
    assert len({values_hash(v) for v in proposed}) == len(proposed) == size


# -- the cases the properties found (kept as plain regression tests) -------------------------


def test_linear_float_grid_values_decode_to_themselves():
    # KerasTuner's (value - min) // step puts 0.25 in bucket 4 of 0.0..0.5 by 0.05.
    hps = keras_tuner.HyperParameters()
    hps.Float("dropout", 0.0, 0.5, step=0.05)
    hps.Float("shift", -1.0, 0.8, step=0.3)
    encoder = UnitCubeEncoder(hps)
    # Grid values as KerasTuner computes them: min + index * step.
    for i, j in [(5, 3), (7, 5), (9, 0), (0, 1)]:
        values = {"dropout": 0.0 + i * 0.05, "shift": -1.0 + j * 0.3}
        assert encoder.decode(encoder.encode(values)) == values
        assert encoder.probs_to_values(encoder.values_to_probs(values)) == values


def test_enumerating_int_log_spaces_gives_every_int():
    hps = keras_tuner.HyperParameters()
    hps.Int("width", 2, 64, step=2, sampling="log")
    hps.Int("depth", 1, 6, sampling="log")
    configs = UnitCubeEncoder(hps).enumerate(limit=1000)
    assert len(configs) == 6 * 6
    assert {c["width"] for c in configs} == {2, 4, 8, 16, 32, 64}
    assert {c["depth"] for c in configs} == set(range(1, 7))
    assert all(type(c["width"]) is int and type(c["depth"]) is int for c in configs)


def test_degenerate_float_is_encoded_at_one_point():
    hps = keras_tuner.HyperParameters()
    hps.Float("lr", 1e-3, 1e-3, sampling="log")
    encoder = UnitCubeEncoder(hps)
    batch = encoder.probs_to_features([[0.1], [0.9]])
    np.testing.assert_allclose(batch[:, 0], [0.5, 0.5])
    np.testing.assert_allclose(encoder.encode({"lr": 1e-3}), [0.5])


def test_enumerating_reverse_log_float_steps_gives_the_proposed_values():
    # Float(1e-5, 2e-5, step=1.5, reverse_log).values starts at 2.0000000000000005e-05, above the
    # range, where `prob_to_value` is clamped to 2e-05: both were proposed, as two configurations.
    hps = keras_tuner.HyperParameters()
    hps.Float("lr", 1e-5, 2e-5, step=1.5, sampling="reverse_log")
    encoder = UnitCubeEncoder(hps)
    assert encoder.enumerate(limit=10) == [{"lr": 2e-05}, {"lr": 1.5000000000000002e-05}]
    proposed = _drive(_random_oracle(hps, seed=0, max_trials=5), 5)
    assert len(proposed) == 2
