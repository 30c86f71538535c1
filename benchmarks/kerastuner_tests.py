"""KerasTuner's own tuner tests, run with kt-nasrepair's tuners in place of KerasTuner's.

Given a keras-tuner checkout (this script fetches nothing), its tuner test files
(`engine/tuner_test.py`, `engine/base_tuner_test.py`, `tuners/randomsearch_test.py`,
`hyperband_test.py`, `gridsearch_test.py`, `bayesian_test.py`) are copied into a scratch
directory and run with pytest against the installed keras-tuner, once per substitution:

- `none`: KerasTuner as installed (the reference: which tests pass at all here);
- `with_repair`: every KerasTuner tuner class (`Tuner`, `RandomSearch`, `Hyperband`,
  `GridSearch`, `BayesianOptimization`) replaced by `kt_nasrepair.with_repair(cls)`;
- `repair_tuner`: `keras_tuner.Tuner` and `keras_tuner.RandomSearch` replaced by
  `kt_nasrepair.RepairTuner`; only the tests that construct one count.

The substitution is a conftest that swaps the classes in every `keras_tuner` module before
the test files are imported, so a test's own `class MyTuner(keras_tuner.Tuner)` subclasses the
substitute too. The wheel's layout (`keras_tuner.src...`) is handled by rewriting the test
files' imports of KerasTuner internals. For each substitution it prints the tests passed among
those that pass with KerasTuner itself, and the names of the others.

    git clone https://github.com/keras-team/keras-tuner /tmp/keras-tuner
    PYTHONPATH=$PWD python benchmarks/kerastuner_tests.py /tmp/keras-tuner
    PYTHONPATH=$PWD python benchmarks/kerastuner_tests.py /tmp/keras-tuner \
        --modes with_repair -- -k verbosity

The tests that check something a subclass legitimately changes are listed, with why, in
docs/guides/migrating.md ("KerasTuner's own tests").
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

TEST_FILES = (
    "engine/tuner_test.py",
    "engine/base_tuner_test.py",
    "tuners/randomsearch_test.py",
    "tuners/hyperband_test.py",
    "tuners/gridsearch_test.py",
    "tuners/bayesian_test.py",
)
MODES = ("none", "with_repair", "repair_tuner")
# The KerasTuner subpackages the tests import; the wheel holds them under `keras_tuner.src`.
_INTERNAL = ("applications", "backend", "config", "distribute", "engine", "errors", "oracles",
             "protos", "tuners", "utils", "api_export", "version")

CONFTEST = '''\
"""Written by benchmarks/kerastuner_tests.py: swaps KerasTuner's tuner classes."""
import os
import sys

import keras_tuner
import pytest

from kt_conftest import *  # noqa: F401,F403  KerasTuner's own seeding fixture

MODE = os.environ["KT_NASREPAIR_SUBSTITUTE"]
CONSTRUCTED = []

if MODE != "none":
    # Imported before the swap: our classes keep KerasTuner's own classes as bases.
    from kt_nasrepair import RepairTuner, with_repair

    originals = {
        "with_repair": [keras_tuner.Tuner, keras_tuner.RandomSearch, keras_tuner.Hyperband,
                        keras_tuner.GridSearch, keras_tuner.BayesianOptimization],
        "repair_tuner": [keras_tuner.Tuner, keras_tuner.RandomSearch],
    }[MODE]

    def _substitute(original):
        base = with_repair(original) if MODE == "with_repair" else RepairTuner

        def __init__(self, *args, **kwargs):
            CONSTRUCTED.append(type(self).__name__)
            base.__init__(self, *args, **kwargs)

        return type(original.__name__, (base,), {"__init__": __init__})

    substitutes = {id(cls): _substitute(cls) for cls in originals}
    import keras_tuner.src.tuners.bayesian  # noqa: F401  every module that names a tuner
    import keras_tuner.src.tuners.gridsearch  # noqa: F401
    import keras_tuner.src.tuners.hyperband  # noqa: F401
    import keras_tuner.src.tuners.randomsearch  # noqa: F401

    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "keras_tuner" or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if id(value) in substitutes:
                setattr(module, attribute, substitutes[id(value)])


@pytest.fixture(autouse=True)
def _substituted(record_property):
    CONSTRUCTED.clear()
    yield
    record_property("substituted", int(bool(CONSTRUCTED)))
'''


PORTPICKER = '''\
"""Stand-in for the portpicker package (not installed): a port the OS reports free."""
import socket


def pick_unused_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]
'''


def rewrite_imports(source: str, wheel_layout: bool) -> str:
    """The test source with its KerasTuner-internal imports pointed at the installed package."""
    source = source.replace("keras_tuner.test_utils", "kt_test_utils")
    if not wheel_layout:
        return source
    names = "|".join(_INTERNAL)
    source = re.sub(rf"\bkeras_tuner\.({names})\b", r"keras_tuner.src.\1", source)
    return re.sub(rf"^from keras_tuner import ({names})\b", r"from keras_tuner.src import \1",
                  source, flags=re.MULTILINE)


def prepare(checkout: str, workdir: str) -> list[str]:
    """Copies the test files, KerasTuner's test utilities and conftest into `workdir`."""
    package = os.path.join(checkout, "keras_tuner")
    if not os.path.isdir(package):
        raise SystemExit(
            f"`checkout` must be a keras-tuner checkout (a folder holding keras_tuner/). "
            f"Received: checkout={checkout!r}"
        )
    import keras_tuner

    wheel_layout = os.path.isdir(os.path.join(os.path.dirname(keras_tuner.__file__), "src"))

    def copy(source_path, target_path):
        with open(source_path) as f:
            text = rewrite_imports(f.read(), wheel_layout)
        os.makedirs(os.path.dirname(target_path), exist_ok=True)
        with open(target_path, "w") as f:
            f.write(text)

    tests = []
    for relative in TEST_FILES:
        target = os.path.join(workdir, relative.replace("/", "__"))
        copy(os.path.join(package, relative), target)
        tests.append(target)
    utils = os.path.join(package, "test_utils")
    for name in sorted(os.listdir(utils)):
        if name.endswith(".py"):
            copy(os.path.join(utils, name), os.path.join(workdir, "kt_test_utils", name))
    copy(os.path.join(package, "conftest.py"), os.path.join(workdir, "kt_conftest.py"))
    with open(os.path.join(workdir, "conftest.py"), "w") as f:
        f.write(CONFTEST)
    if importlib.util.find_spec("portpicker") is None:
        # KerasTuner's mock_distribute only needs a free port from it.
        with open(os.path.join(workdir, "portpicker.py"), "w") as f:
            f.write(PORTPICKER)
    with open(os.path.join(workdir, "pytest.ini"), "w") as f:
        f.write("[pytest]\njunit_family = xunit1\nfilterwarnings = ignore::DeprecationWarning\n")
    return tests


def run(mode: str, workdir: str, tests: list[str], pytest_args: list[str]) -> dict:
    """Runs the tests with one substitution; returns `{test id: (outcome, substituted)}`."""
    report = report_fname(workdir, mode)
    env = dict(os.environ, KT_NASREPAIR_SUBSTITUTE=mode, KT_NASREPAIR_OFFLINE="1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [workdir, root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}", "--rootdir", workdir, *tests, *pytest_args]
    subprocess.run(command, cwd=workdir, env=env, check=False)
    return read_report(report)


def report_fname(workdir: str, mode: str) -> str:
    return os.path.join(workdir, f"report_{mode}.xml")


def read_report(report: str) -> dict:
    """`{test id: (outcome, substituted)}` from a pytest JUnit XML report."""
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
        substituted = any(p.get("name") == "substituted" and p.get("value") == "1"
                          for p in case.iter("property"))
        outcomes[name] = (outcome, substituted)
    return outcomes


def summarise(mode: str, outcomes: dict, reference: dict | None) -> str:
    """One line of counts for `mode`, then the tests that did not pass."""
    relevant = {name: outcome for name, (outcome, substituted) in outcomes.items()
                if outcome != "skipped"
                and (mode != "repair_tuner" or substituted)
                and (reference is None or reference.get(name, ("",))[0] == "passed")}
    passed = sorted(name for name, outcome in relevant.items() if outcome == "passed")
    failed = sorted(name for name, outcome in relevant.items() if outcome != "passed")
    scope = "" if reference is None else " (of the tests that pass with KerasTuner itself"
    if mode == "repair_tuner":
        scope += " and construct a RepairTuner" if scope else " (that construct a RepairTuner"
    scope += ")" if scope else ""
    lines = [f"{mode}: {len(passed)} of {len(relevant)} passed{scope}"]
    lines += [f"  not passed: {name}" for name in failed]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", help="a keras-tuner checkout (the folder holding keras_tuner/)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--workdir", default=None,
                        help="scratch folder for the copied tests (default: a new temporary one)")
    parser.add_argument("--files", nargs="+", choices=TEST_FILES, default=list(TEST_FILES),
                        help="the test files to run (default: all six)")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` goes to pytest untouched.
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    args = parser.parse_args(argv)
    args.pytest_args = pytest_args
    workdir = args.workdir or tempfile.mkdtemp(prefix="kerastuner_tests_")
    os.makedirs(workdir, exist_ok=True)
    tests = prepare(os.path.abspath(args.checkout), workdir)
    tests = [t for t, f in zip(tests, TEST_FILES) if f in args.files]
    results = {mode: run(mode, workdir, tests, args.pytest_args) for mode in args.modes}
    reference = results.get("none")
    if reference is None and os.path.exists(report_fname(workdir, "none")):
        reference = read_report(report_fname(workdir, "none"))  # an earlier run's, reused
        print(f"reference: {report_fname(workdir, 'none')} (an earlier run with --modes none)")
    print()
    for mode in args.modes:
        print(summarise(mode, results[mode], None if mode == "none" else reference))
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
