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


@pytest.mark.slow
def test_search_efficiency_benchmark_smoke(tmp_path):
    out_dir = tmp_path / "bench"
    _run([os.path.join(ROOT, "benchmarks", "search_efficiency.py"), "--dataset", "digits",
          "--spaces", "seed", "--seeds", "1", "--max-trials", "3", "--epochs", "1",
          "--out", str(out_dir)], tmp_path)
    data = json.loads((out_dir / "search_efficiency.json").read_text())
    methods = {run["method"] for run in data["runs"]}
    assert methods == {"repair_entropy", "repair_random", "entropy", "kt_random",
                       "kt_bayesian", "kt_hyperband"}
    for run in data["runs"]:
        assert run["trials"], run["method"]
        for trial in run["trials"]:
            assert math.isfinite(trial["seconds"]) and trial["epochs"] >= 1
            if trial["status"] == "COMPLETED":
                assert 0.0 <= trial["test_accuracy"] <= 1.0
    table = (out_dir / "search_efficiency.md").read_text()
    assert all(f"| {m} |" in table for m in methods)
    assert _is_png(out_dir / "search_efficiency_seed.png")


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    mkdocs = os.path.join(os.path.dirname(sys.executable), "mkdocs")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").exists()
