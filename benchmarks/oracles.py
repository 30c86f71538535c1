"""Benchmark of the search oracles through the KerasTuner Oracle API only.

No model is trained: each trial's score is a known test function of its
hyperparameters. Compares `EntropySearchOracle`, our `QuasiRandomSearchOracle`
(Sobol), and KerasTuner's `RandomSearchOracle` and
`BayesianOptimizationOracle` on

- Branin (2-D, minimise, f* = 0.397887),
- Hartmann-6 (6-D, minimise, f* = -3.32237),
- a noisy discrete "seed-space" surface: num_layers 1-10 x units 1-10, a
  smooth accuracy-like function plus Gaussian noise (sd 0.003), maximised.

Reports the median over seeds of the simple regret (true value of the best
observed trial minus the optimum) after 10/25/50 trials, and the median
seconds of one `populate_space` call with 20/50/100 completed trials
(Hartmann-6), as a markdown table.

Usage:
    nice python benchmarks/oracles.py [--quick] [--seeds 10] [--trials 50]
        [--out benchmarks/oracles.md]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Single-threaded BLAS for every oracle: the GP matrices are small and BLAS
# threads only contend on a shared 2-core machine.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_tuner as kt  # noqa: E402
import numpy as np  # noqa: E402

from kt_nasrepair.oracles import EntropySearchOracle  # noqa: E402
from kt_nasrepair.oracles import QuasiRandomSearchOracle  # noqa: E402

HARTMANN_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
     [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
HARTMANN_P = 1e-4 * np.array(
    [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
)
HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(v):
    x1, x2 = v["x1"], v["x2"]
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


def hartmann6(v):
    x = np.array([v[f"x{i}"] for i in range(6)])
    inner = np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1)
    return -float(np.sum(HARTMANN_ALPHA * np.exp(-inner)))


def seed_space(v):
    layers, units = v["num_layers"], v["units"]
    return (
        0.98
        - 0.004 * (layers - 3) ** 2
        - 0.003 * (units - 7) ** 2
        + 0.004 * np.cos(layers * units / 3.0)
    )


def _seed_space_optimum():
    return max(
        seed_space({"num_layers": l, "units": u}) for l in range(1, 11) for u in range(1, 11)
    )


def make_problems():
    def branin_space():
        hps = kt.HyperParameters()
        hps.Float("x1", -5.0, 10.0)
        hps.Float("x2", 0.0, 15.0)
        return hps

    def hartmann_space():
        hps = kt.HyperParameters()
        for i in range(6):
            hps.Float(f"x{i}", 0.0, 1.0)
        return hps

    def seed_space_space():
        hps = kt.HyperParameters()
        hps.Int("num_layers", 1, 10)
        hps.Int("units", 1, 10)
        return hps

    return {
        # name: (space, true function, optimum, direction, noise sd)
        "Branin": (branin_space, branin, 0.397887, "min", 0.0),
        "Hartmann-6": (hartmann_space, hartmann6, -3.32237, "min", 0.0),
        "Seed space (noisy)": (seed_space_space, seed_space, _seed_space_optimum(), "max", 0.003),
    }


def make_oracles():
    return {
        "EntropySearchOracle (ours)": lambda **kw: EntropySearchOracle(**kw),
        "QuasiRandomSearchOracle sobol (ours)": lambda **kw: QuasiRandomSearchOracle(**kw),
        "KT RandomSearchOracle": lambda **kw: kt.oracles.RandomSearchOracle(**kw),
        "KT BayesianOptimizationOracle": lambda **kw: kt.oracles.BayesianOptimizationOracle(**kw),
    }


@contextlib.contextmanager
def _quiet():
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        yield


def run_search(make_oracle, problem, seed, num_trials, time_at=()):
    """Runs one search; returns (true values per trial, populate seconds)."""
    space, function, _, direction, noise = problem
    rng = np.random.default_rng(seed + 10_000)
    oracle = make_oracle(
        objective=kt.Objective("score", direction),
        max_trials=num_trials,
        # NOTE: KerasTuner's random oracles walk `seed, seed + 1, ...` (one per
        # sampled value), so consecutive seeds give shifted copies of the same
        # stream; seeds 1000 apart keep the runs independent.
        seed=1000 * (seed + 1),
        hyperparameters=space(),
    )
    populate_seconds = {}
    original = oracle.populate_space

    def timed_populate(trial_id):
        start = time.perf_counter()
        response = original(trial_id)
        completed = sum(t.status == "COMPLETED" for t in oracle.trials.values())
        if completed in time_at:
            populate_seconds[completed] = time.perf_counter() - start
        return response

    oracle.populate_space = timed_populate
    true_values = []
    with tempfile.TemporaryDirectory() as directory, _quiet():
        oracle._set_project_dir(directory, "bench")
        oracle.verbose = 0
        for _ in range(num_trials):
            trial = oracle.create_trial("tuner0")
            if trial.status != "RUNNING":
                break
            value = float(function(trial.hyperparameters.values))
            observed = value + noise * rng.normal()
            oracle.update_trial(trial.trial_id, {"score": observed})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            true_values.append((observed, value))
    return true_values, populate_seconds


def simple_regret(true_values, optimum, direction, upto):
    """Regret of the trial with the best *observed* score among the first `upto`."""
    prefix = true_values[:upto]
    sign = 1.0 if direction == "min" else -1.0
    best = min(prefix, key=lambda pair: sign * pair[0])
    return sign * (best[1] - optimum)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 25 trials, timing at 20.")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--timing-seeds", type=int, default=3)
    parser.add_argument("--only", default=None, help="Run only oracles whose name contains this.")
    parser.add_argument("--functions", default=None, help="Run only functions whose name contains this.")
    parser.add_argument("--out", default=None, help="Write the markdown table here.")
    args = parser.parse_args(argv)
    seeds = 3 if args.quick else args.seeds
    num_trials = 25 if args.quick else args.trials
    checkpoints = [c for c in (10, 25, 50) if c <= num_trials]
    timing_points = (20,) if args.quick else (20, 50, 100)

    problems = make_problems()
    timing_problem = problems["Hartmann-6"]
    if args.functions:
        problems = {k: v for k, v in problems.items() if args.functions in k}
    oracles = {k: v for k, v in make_oracles().items() if not args.only or args.only in k}
    lines = [
        f"Median simple regret over {seeds} seeds (lower is better) after "
        + "/".join(map(str, checkpoints)) + " trials.",
        "",
        "| Function | Oracle | " + " | ".join(f"regret@{c}" for c in checkpoints) + " |",
        "|---|---|" + "---|" * len(checkpoints),
    ]
    started = time.time()
    for problem_name, problem in problems.items():
        for oracle_name, make_oracle in oracles.items():
            regrets = {c: [] for c in checkpoints}
            for seed in range(seeds):
                values, _ = run_search(make_oracle, problem, seed, num_trials)
                for c in checkpoints:
                    regrets[c].append(simple_regret(values, problem[2], problem[3], c))
            row = " | ".join(f"{np.median(regrets[c]):.4g}" for c in checkpoints)
            lines.append(f"| {problem_name} | {oracle_name} | {row} |")
            print(lines[-1], f"({time.time() - started:.0f} s)", flush=True)

    lines += [
        "",
        f"Median seconds per `populate_space` call on Hartmann-6 ({args.timing_seeds} seeds) "
        "with N completed trials.",
        "",
        "| Oracle | " + " | ".join(f"N={n}" for n in timing_points) + " |",
        "|---|" + "---|" * len(timing_points),
    ]
    for oracle_name, make_oracle in oracles.items():
        seconds = {n: [] for n in timing_points}
        for seed in range(args.timing_seeds):
            _, timing = run_search(
                make_oracle, timing_problem, seed, max(timing_points) + 1, timing_points
            )
            for n in timing_points:
                if n in timing:
                    seconds[n].append(timing[n])
        row = " | ".join(
            f"{np.median(seconds[n]):.3f}" if seconds[n] else "n/a" for n in timing_points
        )
        lines.append(f"| {oracle_name} | {row} |")
        print(lines[-1], f"({time.time() - started:.0f} s)", flush=True)

    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(table)
    return table


if __name__ == "__main__":
    main()
