"""End-to-end smoke runs: the examples, the main job, the benchmark's quick output, the docs."""

import json
import math
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, tmp_path, timeout=600):
    env = dict(os.environ, KT_NASREPAIR_OFFLINE="1", PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, timeout=timeout,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _is_png(path):
    with open(path, "rb") as f:
        head = f.read(24)
    width = int.from_bytes(head[16:20], "big")
    return head[:8] == b"\x89PNG\r\n\x1a\n" and width > 200 and os.path.getsize(path) > 5000


@pytest.mark.slow
@pytest.mark.parametrize("script", ["nas_mnist.py", "repair_mnist.py"])
def test_example_quick_runs_offline_and_saves_plots(script, tmp_path):
    out = _run([os.path.join(ROOT, "examples", script), "--quick", "--directory", "runs"],
               tmp_path)
    assert "test accuracy" in out
    assert out.count("COMPLETED") == 3
    project = next(p for p in (tmp_path / "runs").iterdir())
    assert _is_png(project / "search_history.png") and _is_png(project / "lineage.png")


@pytest.mark.slow
def test_main_job_prints_a_results_table(tmp_path):
    out = _run(["-m", "kt_nasrepair", "--max-trials", "3", "--epochs", "1",
                "--dataset", "digits"], tmp_path)
    assert "donor" in out and out.count("COMPLETED") == 3 and "test accuracy" in out


def test_search_efficiency_quick_settings_are_the_documented_ones():
    """`--quick` keeps its documented size; explicit flags still win over it."""
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import search_efficiency
    finally:
        sys.path.pop(0)
    args = search_efficiency.parse_args(["--quick"])
    assert (args.spaces, args.seeds, args.max_trials, args.epochs) == (["seed"], 3, 5, 2)
    assert args.dataset == "mnist-5k"
    args = search_efficiency.parse_args(["--quick", "--seeds", "1", "--epochs", "1"])
    assert (args.seeds, args.epochs, args.max_trials) == (1, 1, 5)


@pytest.mark.slow
def test_search_efficiency_small_run(tmp_path):
    """The benchmark's whole code path on a run smaller than `--quick` (which takes minutes):
    every method, every seed, finite numbers, the same epoch budget, the table and the plot."""
    out_dir = tmp_path / "bench"
    seeds, trials, epochs = 1, 3, 1
    _run([os.path.join(ROOT, "benchmarks", "search_efficiency.py"), "--quick",
          "--dataset", "digits", "--seeds", str(seeds), "--max-trials", str(trials),
          "--epochs", str(epochs), "--out", str(out_dir)], tmp_path, timeout=900)
    data = json.loads((out_dir / "search_efficiency.json").read_text())
    assert data["settings"] == {"dataset": "digits", "max_trials": trials, "epochs": epochs,
                                "batch_size": 32, "warm_epochs": "auto"}
    methods = ["repair_entropy", "repair_random", "repair_hyperband", "entropy", "kt_random",
               "kt_bayesian", "kt_hyperband"]
    runs = {(run["method"], run["seed"]): run for run in data["runs"]}
    assert set(runs) == {(m, s) for m in methods for s in range(seeds)}
    budget = trials * epochs
    for (method, seed), run in runs.items():
        assert run["space"] == "seed" and math.isfinite(run["search_seconds"])
        completed = [t for t in run["trials"] if t["status"] == "COMPLETED"]
        assert completed, (method, seed)
        # Same budget (Hyperband: the same epochs; its last bracket may overshoot by a trial;
        # RepairTuner's warm trials may stop at their short budget).
        spent = sum(t["epochs"] for t in run["trials"])
        if method.endswith("hyperband"):
            assert 1 <= spent <= budget + 2, run
        elif method.startswith("repair_"):
            assert len(run["trials"]) == trials and 1 <= spent <= budget, run
        else:
            assert spent == budget, run
        for trial in run["trials"]:
            assert math.isfinite(trial["seconds"]) and trial["seconds"] > 0
        for trial in completed:
            assert 0.0 < trial["val_accuracy"] <= 1.0 and 0.0 < trial["test_accuracy"] <= 1.0
    # KerasTuner's tuners never have a donor.
    donors = {m: [t["donor"] for s in range(seeds) for t in runs[(m, s)]["trials"]]
              for m in methods}
    assert not any(donors["kt_random"] + donors["kt_bayesian"] + donors["kt_hyperband"])
    rows = [line.split("|")[1:-1] for line in
            (out_dir / "search_efficiency.md").read_text().splitlines()
            if line.startswith("| seed |")]
    assert sorted(row[1].strip() for row in rows) == sorted(methods)
    for row in rows:
        assert 0.0 < float(row[4]) <= 1.0
        ratio = row[5].strip()
        assert ratio == "not reached" or math.isfinite(float(ratio))
    baseline = next(row for row in rows if row[1].strip() == "kt_random")
    assert float(baseline[5]) == 1.0
    assert _is_png(out_dir / "search_efficiency_seed.png")


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    mkdocs = os.path.join(os.path.dirname(sys.executable), "mkdocs")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").exists()
