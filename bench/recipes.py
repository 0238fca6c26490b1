"""Choose the fast recipe on the validation split, then look at the test split once.

    .venv/bin/python bench/recipes.py                 # the full grid, 3 seeds, digits and mnist1d
    .venv/bin/python bench/recipes.py --json          # the same, as JSON
    .venv/bin/python bench/recipes.py --quick         # a tiny grid (2 candidates, 2 epochs, digits, 1 seed)

Every candidate of the grid (batch 128, 256, 512 x peak lr 3e-3, 1e-2, 3e-2 x 15, 30, 40 epochs;
Adam, one-cycle schedule, the default MLP) and the default recipe (batch 64, Adam 1e-3, constant
rate, 30 epochs: what `torchprimer bench --target` runs it for) train with `torchprimer.train` on
each data set for seeds 0..N-1 (the seed also picks the train/validation/test split, as in the
bench). Each run gives its final-epoch validation accuracy and its test accuracy.

Choice rule (validation only): the candidate with the highest mean over the data sets of its
mean-over-seeds final validation accuracy; ties broken by fewer epochs, then by the larger batch
(fewer steps), then by grid order. The default recipe is a reference, not a candidate. `choose`
sees validation accuracies alone; the test accuracies are kept apart and shown only after the
choice, for the chosen recipe, the current `RECIPES["fast"]` and the default.

A run that diverges (`TrainingDiverged`) counts as accuracy 0 on both splits.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import torchprimer
from torchprimer.bench import RECIPES

RULE = ("highest mean over data sets of the mean-over-seeds final validation accuracy; ties: fewer epochs, "
        "then larger batch, then grid order; test accuracy is not used")
DATASETS = ("digits", "mnist1d")
BATCHES = (128, 256, 512)
LRS = (3e-3, 1e-2, 3e-2)
EPOCHS = (15, 30, 40)
DEFAULT = {"batch_size": 64, "lr": 1e-3, "schedule": "none", "epochs": 30}
QUICK_GRID = ({"batch_size": 256, "lr": 3e-2, "schedule": "onecycle", "epochs": 2},
              {"batch_size": 128, "lr": 1e-2, "schedule": "onecycle", "epochs": 2})
QUICK_DEFAULT = {**DEFAULT, "epochs": 2}
TIE_DIGITS = 10  # accuracies equal to this many decimals are a tie (float sums differ in the last bit)


def name_of(recipe: dict[str, Any]) -> str:
    return f"b{recipe['batch_size']}-lr{recipe['lr']:g}-e{recipe['epochs']}-{recipe['schedule']}"


def full_grid() -> list[dict[str, Any]]:
    return [{"batch_size": b, "lr": lr, "schedule": "onecycle", "epochs": e}
            for b in BATCHES for lr in LRS for e in EPOCHS]


def same_recipe(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("batch_size", "lr", "schedule", "epochs")
    return all(a.get(k) == b.get(k) for k in keys)


def choose(candidates: Sequence[dict[str, Any]]) -> str:
    """The chosen candidate's name by the module's rule. Each candidate is a dict with "name",
    "epochs", "batch_size" and "val_acc" ({data set: mean-over-seeds final validation accuracy});
    any other key (test accuracies included) is ignored. Pure: no training, no I/O."""
    if not candidates:
        raise ValueError("no candidates to choose from")

    def key(item: tuple[int, dict[str, Any]]) -> tuple[float, int, int, int]:
        order, c = item
        val = round(statistics.fmean(c["val_acc"].values()), TIE_DIGITS)
        return (-val, c["epochs"], -c["batch_size"], order)

    return min(enumerate(candidates), key=key)[1]["name"]


def mean_and_error(values: list[float]) -> tuple[float, float | None]:
    error = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else None
    return statistics.fmean(values), error


def run_one(dataset: str, recipe: dict[str, Any], seed: int) -> dict[str, Any]:
    """Final-epoch validation accuracy and test accuracy of one training run."""
    try:
        result = torchprimer.train(dataset=dataset, batch_size=recipe["batch_size"], lr=recipe["lr"],
                                   schedule=recipe["schedule"], epochs=recipe["epochs"], seed=seed,
                                   save=False, progress="none", device="cpu")
    except torchprimer.TrainingDiverged:
        return {"seed": seed, "val_acc": 0.0, "test_acc": 0.0, "diverged": True}
    return {"seed": seed, "val_acc": float(result.history[-1]["val_acc"]),
            "test_acc": float(result.test["accuracy"]), "diverged": False}


def measure(recipes: list[dict[str, Any]], datasets: list[str], seeds: int,
            log: Callable[[str], None]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, list[float]]]]:
    """Train every recipe; returns (validation side, test side) kept apart: the first holds each
    recipe's validation results, the second its test accuracies per data set."""
    validation: dict[str, dict[str, Any]] = {}
    sealed_test: dict[str, dict[str, list[float]]] = {}
    for i, recipe in enumerate(recipes, 1):
        name = name_of(recipe)
        started = time.perf_counter()
        val: dict[str, Any] = {}
        sealed_test[name] = {}
        for dataset in datasets:
            runs = [run_one(dataset, recipe, seed) for seed in range(seeds)]
            mean, error = mean_and_error([r["val_acc"] for r in runs])
            val[dataset] = {"mean": mean, "stderr": error, "runs": [r["val_acc"] for r in runs],
                            "diverged": sum(r["diverged"] for r in runs)}
            sealed_test[name][dataset] = [r["test_acc"] for r in runs]
        validation[name] = {"name": name, "recipe": recipe, "epochs": recipe["epochs"],
                            "batch_size": recipe["batch_size"], "val": val,
                            "val_acc": {d: v["mean"] for d, v in val.items()},
                            "val_acc_mean": statistics.fmean(v["mean"] for v in val.values())}
        log(f"recipes.py: {i}/{len(recipes)} {name}: mean val acc {validation[name]['val_acc_mean']:.4f} "
            f"({time.perf_counter() - started:.1f} s)")
    return validation, sealed_test


def report(grid: list[dict[str, Any]], default: dict[str, Any], datasets: list[str], seeds: int,
           log: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    default_name = name_of(default)
    validation, sealed_test = measure([*grid, default], datasets, seeds, log)
    candidates = [validation[name_of(r)] for r in grid]
    chosen = choose(candidates)  # validation only: the test side is not passed
    fast = RECIPES["fast"]
    fast_name = name_of(fast) if fast.get("epochs") else None
    fast_in_grid = fast_name in {c["name"] for c in candidates}
    ranked = sorted(candidates, key=lambda c: (-round(c["val_acc_mean"], TIE_DIGITS), c["epochs"],
                                               -c["batch_size"], grid.index(c["recipe"])))
    # After the choice: test accuracy, once, for the chosen recipe, the current fast one and the default.
    revealed = [chosen, *([fast_name] if fast_in_grid and fast_name != chosen else []), default_name]
    test: dict[str, dict[str, Any]] = {}
    for name in revealed:
        test[name] = {}
        for d in datasets:
            mean, error = mean_and_error(sealed_test[name][d])
            test[name][d] = {"mean": mean, "stderr": error, "runs": sealed_test[name][d]}
    d_val = validation[default_name]["val_acc"]
    return {
        "rule": RULE,
        "datasets": datasets, "seeds": list(range(seeds)), "model": "mlp (default)", "optimizer": "adam",
        "device": "cpu",
        "candidates": [{k: c[k] for k in ("name", "recipe", "val", "val_acc_mean")} for c in ranked],
        "default": {k: validation[default_name][k] for k in ("name", "recipe", "val", "val_acc_mean")},
        "chosen": {"name": chosen, "recipe": validation[chosen]["recipe"],
                   "val_acc": validation[chosen]["val_acc"], "val_acc_mean": validation[chosen]["val_acc_mean"],
                   "not_below_default_on_validation": {d: validation[chosen]["val_acc"][d] >= d_val[d]
                                                       for d in datasets}},
        "current_fast": {"recipe": fast, "name": fast_name, "in_grid": fast_in_grid,
                         "rank": next((i for i, c in enumerate(ranked, 1) if c["name"] == fast_name), None),
                         "val_acc": validation[fast_name]["val_acc"] if fast_in_grid else None},
        "chosen_equals_current_fast": same_recipe(validation[chosen]["recipe"], fast),
        "test_after_choice": test,
        "wall_seconds": time.perf_counter() - started,
    }


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def render(out: dict[str, Any]) -> str:
    datasets = out["datasets"]
    lines = [f"recipes.py: choose the fast recipe on validation; {len(out['candidates'])} candidates, "
             f"{len(datasets)} data set(s), seeds {out['seeds']}, mlp, Adam, cpu",
             f"rule: {out['rule']}", "",
             "mean final validation accuracy (%) over seeds, ± standard error; ranked by the rule",
             f"{'rank':>4}  {'recipe':<28}" + "".join(f"{d:>16}" for d in datasets) + f"{'mean':>9}"]
    chosen, fast = out["chosen"]["name"], out["current_fast"]["name"]

    def row(rank: str, c: dict[str, Any]) -> str:
        mark = " <- chosen" if c["name"] == chosen else ""
        mark += " <- current fast" if c["name"] == fast else ""
        cells = "".join(f"{pct(c['val'][d]['mean']):>8} ± {pct(c['val'][d]['stderr']):>5}" for d in datasets)
        return f"{rank:>4}  {c['name']:<28}{cells}{pct(c['val_acc_mean']):>9}{mark}"

    lines += [row(str(i), c) for i, c in enumerate(out["candidates"], 1)]
    lines.append(row("ref", out["default"]) + "  (default, reference)")
    diverged = [(c["name"], d, c["val"][d]["diverged"]) for c in out["candidates"] for d in datasets
                if c["val"][d]["diverged"]]
    if diverged:
        lines.append("diverged runs (counted as 0): " + ", ".join(f"{n} {d} {k}" for n, d, k in diverged))
    lines += ["", f"chosen: {chosen} {out['chosen']['recipe']}"]
    lines.append("chosen not below the default on validation: " + ", ".join(
        f"{d} {v}" for d, v in out["chosen"]["not_below_default_on_validation"].items()))
    cf = out["current_fast"]
    lines.append(f"current RECIPES['fast']: {cf['recipe']}" + (f" = {fast}, rank {cf['rank']}" if cf["in_grid"]
                                                               else " (not in the grid)"))
    lines.append(f"chosen equals RECIPES['fast']: {out['chosen_equals_current_fast']}")
    lines += ["", "after the choice, test accuracy (%) once, mean over seeds ± standard error:",
              f"{'':<8}{'recipe':<28}" + "".join(f"{d + ' val':>16}{d + ' test':>16}" for d in datasets)]
    named = {c["name"]: c for c in [*out["candidates"], out["default"]]}
    for name, test in out["test_after_choice"].items():
        role = "chosen" if name == chosen else "fast" if name == fast else "default"
        cells = "".join(f"{pct(named[name]['val'][d]['mean']):>16}"
                        f"{pct(test[d]['mean']):>8} ± {pct(test[d]['stderr']):>5}" for d in datasets)
        lines.append(f"{role:<8}{name:<28}{cells}")
    lines.append(f"\nwall time {out['wall_seconds']:.1f} s")
    return "\n".join(lines)


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr and exit 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        print(f"recipes.py: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 per recipe and data set (default 3; "
                        "1 with --quick)")
    parser.add_argument("--datasets", default=None, help="comma-separated, from digits,mnist1d (default both; "
                        "digits with --quick)")
    parser.add_argument("--quick", action="store_true", help="a tiny grid: 2 candidates and the default, 2 epochs")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    datasets = [d for d in (args.datasets or ("digits" if args.quick else ",".join(DATASETS))).split(",") if d]
    if seeds < 1:
        parser.error(f"--seeds {seeds} must be at least 1")
    if not datasets or any(d not in DATASETS for d in datasets) or len(set(datasets)) != len(datasets):
        parser.error(f"--datasets {args.datasets!r} must be distinct names from {','.join(DATASETS)}")
    grid = [dict(r) for r in QUICK_GRID] if args.quick else full_grid()
    default = dict(QUICK_DEFAULT if args.quick else DEFAULT)
    out = report(grid, default, datasets, seeds, lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(out, indent=2) if args.json else render(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
