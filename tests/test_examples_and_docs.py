"""End-to-end smoke runs: the examples, the main job, the benchmark's quick output, the docs."""

import json
import math
import os
import re
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, tmp_path, timeout=600, stderr=False):
    env = dict(os.environ, KT_NASREPAIR_OFFLINE="1", PYTHONPATH=ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as in a user's shell: the CLI sets its own
    result = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, timeout=timeout,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return (result.stdout, result.stderr) if stderr else result.stdout


def _is_png(path):
    with open(path, "rb") as f:
        head = f.read(24)
    width = int.from_bytes(head[16:20], "big")
    return head[:8] == b"\x89PNG\r\n\x1a\n" and width > 200 and os.path.getsize(path) > 5000


@pytest.mark.slow
@pytest.mark.parametrize("script", ["nas_mnist.py", "repair_mnist.py"])
def test_example_quick_runs_offline_and_saves_plots(script, tmp_path):
    out, err = _run([os.path.join(ROOT, "examples", script), "--quick", "--directory", "runs"],
                    tmp_path, stderr=True)
    assert "oneDNN" not in err and "InitializeLog" not in err, err
    assert "test accuracy" in out
    assert out.count("COMPLETED") == 4
    # One progress line per trial and a closing summary, although search() has verbose=0.
    progress = [line.split(" | ")[0] for line in out.splitlines() if line.startswith("trial ")]
    assert progress == [f"trial {n - 1} ({n}/4)" for n in range(1, 5)]
    assert any(line.startswith("done: 4 trials in ") for line in out.splitlines())
    project = next(p for p in (tmp_path / "runs").iterdir())
    assert _is_png(project / "search_history.png") and _is_png(project / "lineage.png")


@pytest.mark.slow
def test_main_job_prints_progress_and_resumes(tmp_path):
    args = ["-m", "kt_nasrepair", "--max-trials", "3", "--epochs", "1", "--dataset", "digits",
            "--directory", "runs"]
    out, err = _run(args, tmp_path, stderr=True)
    assert "donor" in out and out.count("COMPLETED") == 3 and "test accuracy" in out
    # TensorFlow's load-time INFO lines (printed once per native library) are muted.
    assert "oneDNN" not in err and "InitializeLog" not in err, err
    # The true split of validation_split=0.2 (digits: 1437 training + 360 test samples).
    assert "on 1149 training and 288 validation digits (digits; 360 test digits held out)" in out
    # One progress line per trial during the search, although search() runs with verbose=0;
    # each trial is named by its KerasTuner id ("0" for max_trials=3), then the count.
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    assert [line.split(" | ")[0] for line in lines] == [f"trial {n - 1} ({n}/3)"
                                                         for n in range(1, 4)]
    # The first trial has nothing to grow from, and says so.
    assert lines[0].split(" | ")[2] == "cold (no finished trial yet)"
    warm = sum(line.split(" | ")[2].startswith("warm from ") for line in lines)
    assert f"\n{warm} of 3 trials warm-started" in out
    for line in lines:
        fields = line.split(" | ")
        assert fields[2].startswith(("cold (", "warm from ")), line
        assert fields[3].startswith("val_accuracy ") and fields[4].startswith("best ")
        assert fields[5].startswith("elapsed ")
    assert "Resuming" not in out
    assert any(line.startswith("done: 3 trials in ") for line in out.splitlines())
    # The same directory again: it says it resumes, and that nothing was left to run.
    again = _run(args, tmp_path)
    assert "Resuming the search in" in again and "3 trials already done, 0 left of 3" in again
    assert "done: no trial left to run (3 already finished)" in again
    assert "Search time: 0.0" not in again and "(1/3)" not in again
    assert "Searching" not in again  # nothing left: no "Searching 3 architectures"
    assert f"\n{warm} of 3 trials warm-started" in again


@pytest.mark.slow
def test_quick_shows_a_warm_start_and_removes_its_temporary_directory(tmp_path, monkeypatch,
                                                                      capsys):
    from kt_nasrepair import cli

    monkeypatch.setattr(cli.tempfile, "tempdir", str(tmp_path))
    assert cli.main(["--quick"]) == 0  # in this process: no second TensorFlow import
    out = capsys.readouterr().out
    # The smoke run shows the product's point: a warm start, and the count of them.
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    warm = sum(line.split(" | ")[2].startswith("warm from ") for line in lines)
    assert len(lines) == 4 and warm >= 1, out
    assert f"\n{warm} of 4 trials warm-started" in out
    # The true split of validation_split=0.2 (mnist-5k: 4000 training + 1000 test digits).
    assert ("on 3200 training and 800 validation digits (mnist-5k; 1000 test digits held out)"
            in out)
    assert "trials in a temporary directory, removed at the end" in out
    assert list(tmp_path.iterdir()) == []
    # A directory the user gave is kept, and resumed next time.
    assert cli.main(["--max-trials", "1", "--epochs", "1", "--dataset", "digits",
                     "--directory", str(tmp_path / "kept")]) == 0
    assert (tmp_path / "kept" / "main").is_dir()


def _clean_env():
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


@pytest.mark.parametrize("command", [["-m", "kt_nasrepair"],
                                     [os.path.join(ROOT, "examples", "nas_mnist.py")],
                                     [os.path.join(ROOT, "examples", "repair_mnist.py")]])
def test_help_is_instant_clean_and_shows_every_default(command, tmp_path):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *command, "--help"], cwd=tmp_path,
                            env=_clean_env(), capture_output=True, text=True, timeout=60)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no TensorFlow/absl log line: no backend was loaded
    assert elapsed < 3.0, elapsed
    options = re.findall(r"^  (--[a-z-]+)", result.stdout, flags=re.M)
    assert set(options) >= {"--dataset", "--max-trials", "--epochs", "--batch-size",
                            "--strategy", "--seed", "--directory", "--quick"}
    help_text = " ".join(result.stdout.split())
    assert help_text.count("(default: ") == len(set(options)), result.stdout


def test_cli_parses_without_importing_keras():
    code = ("import sys; from kt_nasrepair import cli; "
            "args = cli.parse_args(cli.build_parser(), ['--quick']); "
            "import os; assert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '2'; "
            "loaded = [m for m in ('keras', 'tensorflow', 'jax', 'keras_tuner') "
            "if m in sys.modules]; assert not loaded, loaded; print(args.max_trials)")
    result = subprocess.run([sys.executable, "-c", code], env=_clean_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "4", result.stderr


def _example_parse_args():
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    try:
        import _common
    finally:
        sys.path.pop(0)
    return _common.parse_args


def test_examples_and_main_job_share_defaults_and_quick_never_overrides_a_flag():
    from kt_nasrepair import cli

    example = _example_parse_args()("an example", [])
    main = cli.parse_args(cli.build_parser(), [])
    assert vars(example) == vars(main) == {**cli.DEFAULTS, "quick": False}
    quick = cli.parse_args(cli.build_parser(), ["--quick"])
    assert (quick.max_trials, quick.epochs, quick.dataset) == (4, 1, cli.DEFAULTS["dataset"])
    explicit = _example_parse_args()("an example", ["--quick", "--epochs", "5",
                                                    "--max-trials", "7"])
    assert (explicit.max_trials, explicit.epochs) == (7, 5)
    # Order does not matter either.
    explicit = cli.parse_args(cli.build_parser(), ["--epochs", "4", "--quick"])
    assert (explicit.max_trials, explicit.epochs) == (4, 4)


@pytest.mark.parametrize("flag", ["--max-trials", "--epochs", "--batch-size"])
def test_counts_below_one_exit_2_naming_the_flag(flag, capsys):
    from kt_nasrepair import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(cli.build_parser(), [flag, "0"])
    assert exit_info.value.code == 2
    assert f"{flag} must be >= 1. Received: 0" in capsys.readouterr().err


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
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import search_efficiency
    finally:
        sys.path.pop(0)
    # The parent runs in this process (no TensorFlow import of its own); each run still gets
    # its own process, as in the benchmark.
    search_efficiency.main(["--quick", "--dataset", "digits", "--seeds", str(seeds),
                            "--max-trials", str(trials), "--epochs", str(epochs),
                            "--methods", "repair_entropy_full", "repair_hyperband", "kt_random",
                            "--out", str(out_dir)])
    data = json.loads((out_dir / "search_efficiency.json").read_text())
    assert data["settings"] == {"dataset": "digits", "max_trials": trials, "epochs": epochs,
                                "batch_size": 32, "warm_epochs": "auto"}
    # One of each kind of code path: RepairTuner, with_repair(Hyperband), a KerasTuner tuner.
    methods = ["repair_entropy_full", "repair_hyperband", "kt_random"]
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
    assert not any(donors["kt_random"])
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


def test_readme_set_up_keeps_two_commands_and_names_the_command_and_docs_extra():
    readme = open(os.path.join(ROOT, "README.md")).read()
    set_up = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", set_up, flags=re.S)
    assert commands == [
        'python3 -m venv .venv && .venv/bin/pip install ".[cpu,examples]" && '
        ".venv/bin/python -m kt_nasrepair\n",
        'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && '
        ".venv/bin/python -m pytest -q\n",
    ]
    assert "`kt-nasrepair`" in readme and "kt-nasrepair --help" in readme
    # The console script lives in the venv's bin/, which a fresh venv does not put on PATH.
    assert ".venv/bin/kt-nasrepair" in readme and "source .venv/bin/activate" in readme
    assert 'pip install -e ".[docs]" && mkdocs serve' in readme
    assert "docs/guides/migrating.md" in readme


def test_pages_named_in_the_package_exist():
    """Docstrings and comments that point to a docs page point to one that exists."""
    missing = []
    for folder, _, files in os.walk(os.path.join(ROOT, "kt_nasrepair")):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(folder, name)).read()
                for page in re.findall(r"docs/[\w/]+\.md", text):
                    if not os.path.exists(os.path.join(ROOT, page)):
                        missing.append((name, page))
    assert not missing


def test_docs_carry_no_figure_without_its_measurement():
    # Each was in the docs with no table or command behind it (or contradicted the table in
    # docs/performance.md); a figure in the docs comes from a tabled, rerunnable measurement.
    stale = ["2.7 s on JAX", "2.7-4.6 s", "0.427 test accuracy", "14x slower",
             "held in every run so far", "3-seed run of the same benchmark"]
    pages = [os.path.join(ROOT, "README.md")] + [
        os.path.join(folder, name) for folder, _, names in os.walk(os.path.join(ROOT, "docs"))
        for name in names if name.endswith(".md")]
    found = [(os.path.relpath(page, ROOT), claim) for page in pages
             for claim in stale if claim in open(page).read()]
    assert found == []
    # The shape-stable guide quotes the trial-overhead table's figures.
    guide = open(os.path.join(ROOT, "docs", "guides", "shape_stable.md")).read()
    table = open(os.path.join(ROOT, "docs", "performance.md")).read()
    quoted = re.findall(r"([\d.]+) s\s+of a [\d.]+ s trial", guide)
    assert len(quoted) == 2, quoted  # TensorFlow's and JAX's
    for seconds in quoted:
        assert f"| trace_compile | {seconds}" in table, seconds
