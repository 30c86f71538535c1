"""benchmarks/warm_start_gap.py: its `--quick` settings, its options' arithmetic and its whole
code path on a tiny run."""

from __future__ import annotations

import json
import math
import os
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
try:
    import warm_start_gap
    import warm_start_options
finally:
    sys.path.pop(0)


def test_quick_settings_are_the_documented_ones_and_flags_win():
    args = warm_start_gap.parse_args(["--quick"])
    assert (args.datasets, args.seeds) == (["digits"], 2)
    assert args.pairs == ["seed 2x4->3x8", "widen 2x64->2x128"]
    assert (args.donor_epochs, args.child_epochs) == (5, 2)
    assert args.options == list(warm_start_gap.OPTIONS)
    args = warm_start_gap.parse_args(["--quick", "--seeds", "1", "--datasets", "mnist-5k"])
    assert (args.datasets, args.seeds) == (["mnist-5k"], 1)
    full = warm_start_gap.parse_args([])
    assert (full.datasets, full.seeds, full.pairs) == (
        ["mnist-5k", "digits"], 5, list(warm_start_gap.PAIRS))


def test_bad_budget_is_refused():
    with pytest.raises(SystemExit):
        warm_start_gap.parse_args(["--child-epochs", "0"])


def _mlp(widths=(8,), lr=1e-3):
    layers = [keras.Input(shape=(4,))]
    layers += [keras.layers.Dense(w, activation="relu") for w in widths]
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="categorical_crossentropy")
    return model


def _data(n):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, keras.utils.to_categorical(rng.integers(0, 3, n), 3).astype("float32")


def test_shrink_perturb_model_is_the_weighted_sum_of_warm_and_fresh_weights():
    model = _mlp((5,))
    warm = warm_start_options.trainable_arrays(model)
    fresh = [np.full_like(a, 0.5) for a in warm]
    warm_start_options.shrink_perturb_model(model, fresh, shrink=0.4, perturb=0.1)
    for got, before in zip(warm_start_options.trainable_arrays(model), warm):
        np.testing.assert_allclose(got, 0.4 * before + 0.05, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="must hold 4 arrays.*Received: 1 arrays"):
        warm_start_options.shrink_perturb_model(model, fresh[:1])


def test_cosine_factor_hand_computed_values():
    factor = warm_start_options.cosine_factor
    assert factor(0, 4) == pytest.approx(1.0)
    assert factor(1, 4) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert factor(2, 4, start=0.5, end=0.1) == pytest.approx(0.3)
    assert factor(9, 4) == pytest.approx(0.0)  # past the end: held at `end`
    assert [factor(s, 10, warmup=2) for s in range(2)] == pytest.approx([0.5, 1.0])


def test_cosine_schedule_sets_each_batch_rate_and_restores_the_compiled_one():
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    model = _mlp(lr=1e-2)
    x, y = _data(40)
    schedule = warm_start_options.CosineSchedule(warmup=0.25)
    # A continued fit (initial_epoch=1, epochs=3): one cycle over its own 2 epochs x 4 batches.
    model.fit(x, y, batch_size=10, initial_epoch=1, epochs=3, verbose=0,
              callbacks=[schedule, Spy()])
    expected = [1e-2 * warm_start_options.cosine_factor(s, 8, warmup=2) for s in range(8)]
    np.testing.assert_allclose(schedule.rates, expected, rtol=1e-6)
    np.testing.assert_allclose(seen, expected, rtol=1e-5)  # the rate the optimizer stepped with
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-2)
    with pytest.raises(ValueError, match="Received: start_factor=1.0, end_factor=2.0"):
        warm_start_options.CosineSchedule(end_factor=2.0)


@pytest.mark.slow
def test_tiny_run_writes_consistent_json_and_table(tmp_path, capsys):
    options = ["warm", "warm+cosine", "sp(0.4,0.1)", "cold k", "cold D", "cold D+k"]
    warm_start_gap.main(["--datasets", "digits", "--pairs", "widen 2x64->2x128",
                         "--seeds", "1", "--donor-epochs", "2", "--child-epochs", "1",
                         "--options", *options, "--out", str(tmp_path)])
    data = json.loads((tmp_path / "warm_start_gap.json").read_text())
    assert data["settings"]["donor_epochs"] == 2 and data["settings"]["child_epochs"] == 1
    (run,) = data["runs"]
    assert run["ops"] == ["widen dense_0 64->128", "widen dense_1 64->128"]
    assert run["max_deviation"] < 1e-4  # the warm child started at its donor's function
    assert set(run["options"]) == set(options)
    expected_epochs = {"cold D": 2, "cold D+k": 3}
    for option, result in run["options"].items():
        assert result["epochs_run"] == expected_epochs.get(option, 1), option
        assert 0.0 < result["test_accuracy"] <= 1.0 and 0.0 < result["val_accuracy"] <= 1.0
        assert math.isfinite(result["seconds"]) and result["seconds"] > 0
    # Warm children start from a donor that already learnt; one epoch cold cannot match it.
    assert run["options"]["warm"]["test_accuracy"] > run["options"]["cold k"]["test_accuracy"]
    rows = {row["option"]: row for row in data["summary"]}
    assert rows["warm"]["wins_vs_warm"] == 0.5 and rows["warm"]["gap_test_vs_warm"] == 0.0
    assert rows["cold D+k"]["gap_test_vs_cold_Dk"] == 0.0
    gap = rows["warm"]["gap_test_vs_cold_Dk"]
    assert gap == pytest.approx(run["options"]["warm"]["test_accuracy"]
                                - run["options"]["cold D+k"]["test_accuracy"])
    table = (tmp_path / "warm_start_gap.md").read_text()
    summary_rows = [line for line in table.splitlines() if line.startswith("| digits | ")
                    and line.split("|")[2].strip() in options]
    assert len(summary_rows) == len(options)
    assert f"{100 * gap:+.1f}" in next(r for r in summary_rows if "| warm |" in r)
    # --report re-summarises the JSON into the same table, training nothing.
    warm_start_gap.main(["--report", str(tmp_path / "warm_start_gap.json"),
                         "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / "warm_start_gap.md").read_text() == table
