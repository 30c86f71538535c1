"""The warm-start gap: a warm child trained briefly against the same child trained cold.

For each dataset, donor -> child pair and seed: the donor is trained `--donor-epochs` (D)
epochs, grown into the child with `kt_nasrepair.morph.transfer`, and the child is trained
`--child-epochs` (k) epochs under each option of `OPTIONS` (all from the same donor, the same
fresh initialisation of the child and the same batch order); the same child is trained cold
for k and for D + k epochs ("equal total epochs": donor + child against cold). Plain Keras,
no tuner, so it is fast. Outputs, in `--out`:

- `warm_start_gap.json`: settings and every run (val accuracy at the last epoch and its best,
  test accuracy at the last epoch, the child's training seconds);
- `warm_start_gap.md`: per dataset and option, the paired gap to the cold child (median over
  pairs x seeds), and per pair the median and min-max over seeds.

    python benchmarks/warm_start_gap.py --quick   # digits, 2 pairs, 2 seeds: about a minute
    python benchmarks/warm_start_gap.py           # the full run (see docs/performance.md)
    python benchmarks/warm_start_gap.py --report results/warm_start_gap/warm_start_gap.json

Every option of a unit trains the same child model object: its weights are set, its optimizer
state zeroed (a fresh Adam: iterations 0, zero moments) and its compiled rate restored before
each fit, so the training function is traced once per architecture, not once per option.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KT_NASREPAIR_OFFLINE", "1")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from kt_nasrepair import DenseHyperModel, morph  # noqa: E402
from kt_nasrepair._io import atomic_write_json  # noqa: E402
from kt_nasrepair.datasets import load_mnist  # noqa: E402
from warm_start_options import (  # noqa: E402
    CosineSchedule,
    shrink_perturb_model,
    trainable_arrays,
)

# name: (space, donor widths, child widths). Seed space: 1-10 layers sharing 1-10 units;
# default space: per-layer units 32..512 step 32, learning rate fixed at Adam's 1e-3.
PAIRS = {
    "seed 2x4->3x8": ("seed", (4, 4), (8, 8, 8)),
    "default 1x64->2x128": ("default", (64,), (128, 128)),
    "widen 2x64->2x128": ("default", (64, 64), (128, 128)),
    "deepen 2x64->3x64": ("default", (64, 64), (64, 64, 64)),
}
# name: (warm?, (shrink, perturb) or None, CosineSchedule kwargs or None)
OPTIONS = {
    "warm": (True, None, None),
    "warm+cosine": (True, None, {}),
    "warm+low_lr": (True, None, {"start_factor": 0.3, "end_factor": 0.3}),
    "warm+warmup_cosine": (True, None, {"warmup": 0.1}),
    "sp(0.4,0.1)": (True, (0.4, 0.1), None),
    "sp(0.8,0.05)": (True, (0.8, 0.05), None),
    "sp(0.4,0.1)+cosine": (True, (0.4, 0.1), {}),
    "sp(0.8,0.05)+cosine": (True, (0.8, 0.05), {}),
    "cold k": (False, None, None),
    "cold D": (False, None, None),
    "cold D+k": (False, None, None),
}
REFERENCE = "cold D+k"
TODAY = "warm"  # what RepairTuner's warm children do today
QUICK = {"datasets": ["digits"], "pairs": ["seed 2x4->3x8", "widen 2x64->2x128"], "seeds": 2}
LEARNING_RATE = 1e-3


def split(dataset):
    """(train, val, test): the last 20% of the training digits are the validation set."""
    (x, y), (x_test, y_test) = load_mnist(dataset)
    cut = int(0.8 * len(x))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:]), (x_test, y_test)


def build(space, widths, input_shape):
    """A compiled model of `space` with the given hidden widths (hyperparameters fixed)."""
    hp = keras_tuner.HyperParameters()
    hp.Fixed("num_layers", len(widths))
    if space == "seed":
        hypermodel = DenseHyperModel.mnist_seed(input_shape=input_shape)
        hp.Fixed("units", widths[0])
    else:
        hypermodel = DenseHyperModel(input_shape=input_shape, num_classes=10)
        for i, width in enumerate(widths):
            hp.Fixed(f"units_{i}", width)
        hp.Fixed("learning_rate", LEARNING_RATE)
    model = hypermodel.build(hp)
    got = [layer.units for layer in model.layers[:-1]]
    assert got == list(widths), (got, widths)
    return model


def fresh_optimizer(model, rate):
    """Zeroes every optimizer variable (iterations, moments) and sets the compiled rate."""
    for variable in model.optimizer.variables:
        variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
    model.optimizer.learning_rate.assign(rate)


def fit(model, data, epochs, seed, callbacks=()):
    (x, y), (x_val, y_val), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)  # the same batch order for every option
    start = time.perf_counter()
    history = model.fit(x, y, validation_data=(x_val, y_val), epochs=epochs, batch_size=32,
                        verbose=0, callbacks=list(callbacks))
    seconds = time.perf_counter() - start
    test = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    val = history.history["val_accuracy"]
    return {"val_accuracy": float(val[-1]), "best_val_accuracy": float(max(val)),
            "test_accuracy": float(test), "seconds": seconds, "epochs_run": len(val)}


def run_unit(dataset, pair, seed, args, data):
    """Donor, transfer and every option for one (dataset, pair, seed)."""
    space, donor_widths, child_widths = PAIRS[pair]
    input_shape = data[0][0].shape[1:]
    keras.utils.set_random_seed(seed)
    donor = build(space, donor_widths, input_shape)
    donor_result = fit(donor, data, args.donor_epochs, seed)
    keras.utils.set_random_seed(seed + 1000)
    child = build(space, child_widths, input_shape)
    fresh = [np.array(w) for w in child.get_weights()]
    fresh_trainable = trainable_arrays(child)
    start = time.perf_counter()
    report = morph.transfer(donor, child, seed=seed)
    transfer_seconds = time.perf_counter() - start
    inherited = [np.array(w) for w in child.get_weights()]
    # Trace the child's train/val/test functions once, untimed, so that no option pays it.
    fit(child, data, 1, seed)
    order = list(args.options)
    shift = seed % len(order)  # rotate the order so no option always runs first
    results = {}
    for option in order[shift:] + order[:shift]:
        warm, sp, schedule = OPTIONS[option]
        child.set_weights(inherited if warm else fresh)
        prep = 0.0
        if sp is not None:
            start = time.perf_counter()
            shrink_perturb_model(child, fresh_trainable, shrink=sp[0], perturb=sp[1])
            prep = time.perf_counter() - start
        fresh_optimizer(child, LEARNING_RATE)
        epochs = {"cold D": args.donor_epochs,
                  "cold D+k": args.donor_epochs + args.child_epochs}.get(option, args.child_epochs)
        callbacks = [CosineSchedule(**schedule)] if schedule is not None else []
        result = fit(child, data, epochs, seed + 2000, callbacks)
        result["prep_seconds"] = prep
        result["epochs"] = epochs
        results[option] = result
    del donor, child
    keras.backend.clear_session()
    gc.collect()
    return {"dataset": dataset, "pair": pair, "seed": seed, "donor": donor_result,
            "ops": list(report.ops), "max_deviation": float(report.max_deviation),
            "transfer_seconds": transfer_seconds, "options": results}


def _median_range(values, fmt="{:.3f}"):
    return (f"{fmt.format(statistics.median(values))} "
            f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")


def summarise(runs, options):
    """Per dataset and option: paired gaps to the cold children, medians over pairs x seeds."""
    table = []
    for dataset in sorted({r["dataset"] for r in runs}):
        chosen = [r for r in runs if r["dataset"] == dataset]
        for option in options:
            def gap(reference, key="test_accuracy"):
                if reference not in options:
                    return None
                return statistics.median(
                    r["options"][option][key] - r["options"][reference][key] for r in chosen)
            table.append({
                "dataset": dataset, "option": option, "n": len(chosen),
                "test_accuracy": statistics.median(r["options"][option]["test_accuracy"]
                                                   for r in chosen),
                "val_accuracy": statistics.median(r["options"][option]["val_accuracy"]
                                                  for r in chosen),
                "gap_test_vs_cold_Dk": gap(REFERENCE),
                "gap_val_vs_cold_Dk": gap(REFERENCE, "val_accuracy"),
                "gap_test_vs_cold_k": gap("cold k"),
                "gap_test_vs_cold_D": gap("cold D"),
                "gap_test_vs_warm": gap(TODAY),
                # Paired wins over today's warm child (test accuracy; ties count half).
                "wins_vs_warm": None if TODAY not in options else sum(
                    (r["options"][option]["test_accuracy"] > r["options"][TODAY]["test_accuracy"])
                    + 0.5 * (r["options"][option]["test_accuracy"]
                             == r["options"][TODAY]["test_accuracy"]) for r in chosen),
                "child_seconds": statistics.median(r["options"][option]["seconds"]
                                                   for r in chosen),
            })
    return table


def _signed(value):
    return "-" if value is None else f"{100 * value:+.1f}"


def _wins(row):
    return "" if row["wins_vs_warm"] is None else f" ({row['wins_vs_warm']:g}/{row['n']})"


def markdown(runs, table, args):
    lines = [
        f"D = {args.donor_epochs} donor epochs, k = {args.child_epochs} child epochs, "
        f"{args.seeds} seeds; gaps in accuracy points, paired by seed (option minus cold "
        "child), median over every pair and seed.",
        "",
        "| dataset | option | runs | test acc. (median) | val acc. (median) | "
        "test gap vs cold D+k | val gap vs cold D+k | test gap vs cold D | "
        "test gap vs cold k | test gap vs warm (wins) | child train s (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table:
        lines.append(
            f"| {row['dataset']} | {row['option']} | {row['n']} | {row['test_accuracy']:.3f} | "
            f"{row['val_accuracy']:.3f} | {_signed(row['gap_test_vs_cold_Dk'])} | "
            f"{_signed(row['gap_val_vs_cold_Dk'])} | {_signed(row['gap_test_vs_cold_D'])} | "
            f"{_signed(row['gap_test_vs_cold_k'])} | {_signed(row['gap_test_vs_warm'])}"
            f"{_wins(row)} | {row['child_seconds']:.2f} |")
    lines += ["", "Per pair: median [min-max] over seeds.", "",
              "| dataset | pair | option | val acc. | test acc. | child train s |",
              "|---|---|---|---|---|---|"]
    for dataset in sorted({r["dataset"] for r in runs}):
        for pair in args.pairs:
            chosen = [r for r in runs if r["dataset"] == dataset and r["pair"] == pair]
            if not chosen:
                continue
            donor = [r["donor"] for r in chosen]
            lines.append(
                f"| {dataset} | {pair} | donor ({args.donor_epochs} ep.) | "
                f"{_median_range([d['val_accuracy'] for d in donor])} | "
                f"{_median_range([d['test_accuracy'] for d in donor])} | "
                f"{_median_range([d['seconds'] for d in donor], '{:.2f}')} |")
            for option in args.options:
                res = [r["options"][option] for r in chosen]
                lines.append(
                    f"| {dataset} | {pair} | {option} | "
                    f"{_median_range([x['val_accuracy'] for x in res])} | "
                    f"{_median_range([x['test_accuracy'] for x in res])} | "
                    f"{_median_range([x['seconds'] for x in res], '{:.2f}')} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=["mnist-5k", "digits"], default=None)
    parser.add_argument("--pairs", nargs="+", choices=list(PAIRS), default=None)
    parser.add_argument("--options", nargs="+", choices=list(OPTIONS), default=list(OPTIONS))
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--donor-epochs", type=int, default=5)
    parser.add_argument("--child-epochs", type=int, default=2)
    parser.add_argument("--out", default="results/warm_start_gap")
    parser.add_argument("--report", default=None, metavar="JSON",
                        help="re-summarise a warm_start_gap.json into --out; trains nothing")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK}: about a minute; explicit flags still win")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else {"datasets": ["mnist-5k", "digits"],
                                         "pairs": list(PAIRS), "seeds": 5}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.seeds < 1 or args.donor_epochs < 1 or args.child_epochs < 1:
        parser.error("--seeds, --donor-epochs and --child-epochs must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.report is not None:
        with open(args.report) as f:
            saved = json.load(f)
        settings, runs = saved["settings"], saved["runs"]
        for key in ("datasets", "pairs", "options", "seeds", "donor_epochs", "child_epochs"):
            setattr(args, key, settings[key])
    else:
        started = time.perf_counter()
        runs = []
        for dataset in args.datasets:
            data = split(dataset)
            for pair in args.pairs:
                for seed in range(args.seeds):
                    runs.append(run_unit(dataset, pair, seed, args, data))
                    done = runs[-1]["options"]
                    print(f"{dataset} | {pair} | seed {seed}: " + ", ".join(
                        f"{o} {done[o]['test_accuracy']:.3f}" for o in args.options), flush=True)
        settings = {"datasets": args.datasets, "pairs": args.pairs, "options": args.options,
                    "seeds": args.seeds, "donor_epochs": args.donor_epochs,
                    "child_epochs": args.child_epochs, "batch_size": 32,
                    "learning_rate": LEARNING_RATE, "backend": keras.backend.backend(),
                    "seconds": time.perf_counter() - started}
    table = summarise(runs, args.options)
    atomic_write_json(os.path.join(args.out, "warm_start_gap.json"),
                      {"settings": settings, "summary": table, "runs": runs})
    text = markdown(runs, table, args)
    with open(os.path.join(args.out, "warm_start_gap.md"), "w") as f:
        f.write(text)
    print(text)
    print(f"{settings['seconds']:.0f} s of training", file=sys.stderr)


if __name__ == "__main__":
    main()
