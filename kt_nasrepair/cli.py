"""The main job (`python -m kt_nasrepair`, `kt-nasrepair`) and the flags the examples share.

Arguments are parsed before Keras is imported, so `--help` and a bad flag answer at once.
"""

from __future__ import annotations

import os

# NOTE: before any import that may load TensorFlow; a value the user set is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

DATASETS = ("auto", "keras", "mnist-5k", "digits")
STRATEGIES = ("entropy", "quasi_random")
# One set of defaults for the main job and the examples: offline, a few minutes on 2 CPU cores.
DEFAULTS = {"dataset": "mnist-5k", "max_trials": 10, "epochs": 3, "batch_size": 32,
            "strategy": "entropy", "seed": 0, "directory": None}
# What `--quick` changes; an explicit flag wins. NOTE: 4 trials, because with the default seed
# the fourth is the first that a finished relative can grow into: the smoke run shows a warm start.
QUICK = {"max_trials": 4, "epochs": 1}
VALIDATION_SPLIT = 0.2
# TensorFlow 2.21's native libraries log these INFO lines before reading TF_CPP_MIN_LOG_LEVEL.
_NATIVE_INFO_LINE = re.compile(
    r"I\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
)
DESCRIPTION = (
    "Search the original MNIST example's space (1-10 hidden ReLU layers x 1-10 units) with "
    "RepairTuner (each trial warm-started from a trained relative by Net2Net when one it can "
    "grow from exists), print one line per finished trial, then every trial, its donor and "
    "the best model's test accuracy."
)
_FLAGS = (  # (flag, type, help); defaults and choices come from DEFAULTS and the tuples above
    ("--dataset", None, "data source (kt_nasrepair.datasets.load_mnist): mnist-5k = 5,000 real "
     "MNIST digits (offline), keras = full MNIST, auto = full MNIST if available else "
     "mnist-5k, digits = scikit-learn's 8x8 digits"),
    ("--max-trials", int, "trials to run (in all, when resuming)"),
    ("--epochs", int, "epochs per trial"),
    ("--batch-size", int, "batch size"),
    ("--strategy", None, "entropy = Max-value Entropy Search, quasi_random = Sobol search"),
    ("--seed", int, "random seed"),
    ("--directory", None, "where the trials are kept (not given: a new temporary directory); "
     "a search already there is resumed"),
)


def build_parser(prog: str | None = None, description: str | None = None,
                 strategies=STRATEGIES) -> argparse.ArgumentParser:
    """The parser (help showing every default) of the main job and the examples.

    Args:
        prog: Program name shown in the usage. Defaults to None (`kt-nasrepair`).
        description: Text shown under the usage. Defaults to the main job's.
        strategies: The `--strategy` choices. Defaults to `("entropy", "quasi_random")`.
    """
    parser = argparse.ArgumentParser(prog=prog or "kt-nasrepair",
                                     description=description or DESCRIPTION,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    choices = {"--dataset": DATASETS, "--strategy": tuple(strategies)}
    for flag, kind, help_text in _FLAGS:
        parser.add_argument(flag, type=kind, default=DEFAULTS[flag[2:].replace("-", "_")],
                            choices=choices.get(flag), help=help_text)
    parser.add_argument("--quick", action="store_true",
                        help="smoke-run size: --max-trials {max_trials} --epochs {epochs}, "
                             "unless given explicitly".format(**QUICK))
    return parser


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parses `argv` (default `sys.argv[1:]`); a count below 1 exits 2 naming the flag."""
    args = parser.parse_args(argv)
    if args.quick:  # quick sizes become the defaults, parsed again: what the user typed wins
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)
    for name in ("max_trials", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1. Received: "
                         f"{getattr(args, name)}")
    return args


def prepare_directory(directory: str | None) -> tuple[str, bool]:
    """`(directory, overwrite)`: a new temporary directory (`True`), or `directory` to resume."""
    if directory is None:
        return tempfile.mkdtemp(prefix="kt_nasrepair_"), True
    return directory, False


def announce_resume(tuner) -> int:
    """Prints whether a just-built tuner resumes a search; returns the trials already done."""
    trials = getattr(tuner.oracle, "trials", None) or {}
    done = sum(t.status in ("COMPLETED", "FAILED", "INVALID") for t in trials.values())
    if done:
        total = tuner.oracle.max_trials
        left = max(total - done, 0) if total is not None else "?"
        print(f"Resuming the search in {tuner.project_dir}: {done} trials already done, "
              f"{left} left of {total}.")
    return done


@contextlib.contextmanager
def native_startup_log_filtered():
    """Drops native INFO lines from stderr while the backend loads (TF_CPP_MIN_LOG_LEVEL >= 1)."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    if not level.isdigit() or int(level) < 1:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(True)
            sys.stderr.write("".join(l for l in lines if not _NATIVE_INFO_LINE.match(l)))
            sys.stderr.flush()


def main(argv=None) -> int:
    """Runs the main job and returns the exit status; a temporary trial directory is removed."""
    args = parse_args(build_parser(), argv)
    directory, overwrite = prepare_directory(args.directory)
    try:
        return _search(args, directory, overwrite)
    finally:
        if args.directory is None:
            shutil.rmtree(directory, ignore_errors=True)


def _search(args, directory, overwrite) -> int:
    with native_startup_log_filtered():
        import keras

        from kt_nasrepair.datasets import load_mnist
        from kt_nasrepair.hypermodel import DenseHyperModel
        from kt_nasrepair.repair import RepairTuner
        from kt_nasrepair.report import results_table

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_mnist(args.dataset)
    tuner = RepairTuner(DenseHyperModel.mnist_seed(input_shape=x_train.shape[1:]),
                        objective="val_accuracy", max_trials=args.max_trials,
                        strategy=args.strategy, seed=args.seed, directory=directory,
                        project_name="main", overwrite=overwrite)
    done = announce_resume(tuner)
    if args.max_trials > done:
        # Keras's validation_split trains on the first floor(n * (1 - split)) samples.
        train = int(math.floor(len(x_train) * (1.0 - VALIDATION_SPLIT)))
        where = (f"trials in {tuner.project_dir}" if args.directory is not None else
                 "trials in a temporary directory, removed at the end (keep them: --directory)")
        print(f"Searching {args.max_trials - done}{' more' if done else ''} architectures, "
              f"{args.epochs} epoch{'s' if args.epochs > 1 else ''} each, on {train} training "
              f"and {len(x_train) - train} validation digits ({args.dataset}; {len(x_test)} "
              f"test digits held out); {where}")
    tuner.show_progress = True  # one line per trial; verbose=0 mutes Keras's and KerasTuner's
    tuner.search(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                 validation_split=VALIDATION_SPLIT, verbose=0)
    lineage = tuner.lineage()
    print(results_table(tuner, extra_columns={
        "donor": {trial_id: record["donor"] or "-" for trial_id, record in lineage.items()}}))
    warm = sum(record.get("donor") is not None for record in lineage.values())
    print(f"{warm} of {len(lineage)} trials warm-started (Net2Net from a finished relative; "
          "the others cold)")
    best = tuner.get_best_models(1)[0]
    _, test_accuracy = best.evaluate(x_test, y_test, verbose=0)
    print(f"Best architecture: {tuner.get_best_hyperparameters(1)[0].values}; "
          f"test accuracy {test_accuracy:.4f}")
    return 0
