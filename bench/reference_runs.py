"""Reference runs: torchprimer's models on digits and MNIST-1D, beside the published figures.

    .venv/bin/python bench/reference_runs.py              # all runs, a Markdown table on stdout
    .venv/bin/python bench/reference_runs.py --quick      # 1 epoch each, to check it works

Every accuracy and time in the table comes from training here and now. The published
column quotes the papers (compare.py's REFERENCES) so the reader can compare; it is never a result.
"""

from __future__ import annotations

import argparse
import sys

import torch

import torchprimer
from torchprimer.doctor import cpu_name

# (dataset, model, epochs, options beyond the defaults, published figure with its source).
# The MNIST-1D MLP is wider and uses dropout: the default 128-unit MLP overfits the 3,601
# training signals (`torchprimer train --dataset mnist1d --epochs 100` shows it).
RUNS: list[tuple[str, str, int, dict[str, object], str]] = [
    ("digits", "linear", 10, {}, ""),
    ("digits", "mlp", 10, {}, ""),
    ("digits", "cnn", 10, {}, ""),
    ("mnist1d", "linear", 100, {}, "logistic regression 32% (Greydanus & Kobak 2024)"),
    ("mnist1d", "mlp", 100, {"hidden": "256,256", "dropout": 0.3}, "MLP 68% (Greydanus & Kobak 2024)"),
    ("mnist1d", "cnn", 100, {}, "CNN 94% (Greydanus & Kobak 2024)"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one epoch per run (a smoke test)")
    parser.add_argument("--only", default="", help="comma-separated data sets to run, e.g. digits")
    args = parser.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    known = {run[0] for run in RUNS}
    if only - known:
        print(f"reference_runs.py: --only names from {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    # float32 rounding differs between CPUs (AVX2 and AVX-512 kernels), so the last digits belong to this one
    print(f"{cpu_name()} ({torch.backends.cpu.get_cpu_capability()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, seed 0, default options otherwise\n")
    print("| data set | model | options | epochs | test accuracy | training seconds | published |")
    print("|---|---|---|---:|---:|---:|---|")
    for dataset, model, epochs, options, published in RUNS:
        if only and dataset not in only:
            continue
        epochs = 1 if args.quick else epochs
        result = torchprimer.train(dataset=dataset, model=model, epochs=epochs, save=False, progress="none",
                                   **options)
        shown = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items()) or "defaults"
        print(f"| {dataset} | {model} | {shown} | {epochs} | {result.test['accuracy']:.4f} | "
              f"{result.train_seconds:.1f} | {published} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
