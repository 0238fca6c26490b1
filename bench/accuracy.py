"""Speed without changing the mathematics: the seed's loop and torchprimer reach the same accuracy.

    .venv/bin/python bench/accuracy.py                    # digits and MNIST-1D, 10 seeds each
    .venv/bin/python bench/accuracy.py --seeds 3 --only digits

For each seed both train the seed's recipe (MLP 128 ReLU, cross-entropy, Adam lr 1e-3,
batch 64) for the same epochs on the same training split, normalised the same way, and are
scored on the same test split. The seed's loop gets its batches from a DataLoader over a
TensorDataset (these sets have no image files); torchprimer trains with `torchprimer.train`.
Single runs differ by their random initialisation and data order, so the comparison is
between means over seeds, with the standard error of each mean.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch
from torch import nn

import torchprimer
from torchprimer import data as tpdata

RUNS = {"digits": 10, "mnist1d": 30}  # data set -> epochs


def seed_loop_accuracy(splits: tpdata.Splits, epochs: int, seed: int) -> float:
    """The seed's §6.2 loop, as written, then test accuracy."""
    torch.manual_seed(seed)
    features = splits.x_train[0].numel()
    train_loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(splits.x_train, splits.y_train), batch_size=64, shuffle=True
    )
    model = nn.Sequential(nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, splits.num_classes))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for _epoch in range(epochs):
        for inputs, labels in train_loader:
            optimizer.zero_grad()
            outputs = model(inputs.view(-1, features))
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predicted = model(splits.x_test.view(-1, features)).argmax(1)
    return float((predicted == splits.y_test).float().mean())


def mean_and_error(values: list[float]) -> tuple[float, float]:
    error = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return statistics.mean(values), error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="runs per data set and loop")
    parser.add_argument("--only", default="", help="comma-separated data sets, e.g. digits")
    args = parser.parse_args(argv)
    only = {s for s in args.only.split(",") if s}
    if args.seeds < 1 or only - set(RUNS):
        print(f"accuracy.py: --seeds must be at least 1 and --only names from {', '.join(RUNS)}", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}; MLP 128 ReLU, Adam 1e-3, batch 64; mean test accuracy over {args.seeds} seeds\n")
    print("| data set | epochs | seed loop | torchprimer | difference (points) |")
    print("|---|---:|---:|---:|---:|")
    for dataset, epochs in RUNS.items():
        if only and dataset not in only:
            continue
        seed_runs, tp_runs = [], []
        for seed in range(args.seeds):
            result = torchprimer.train(dataset=dataset, epochs=epochs, seed=seed, save=False, progress="none")
            assert result.data is not None  # the very split torchprimer trained and tested on
            tp_runs.append(result.test["accuracy"])
            seed_runs.append(seed_loop_accuracy(result.data, epochs, seed))
        (s_mean, s_err), (t_mean, t_err) = mean_and_error(seed_runs), mean_and_error(tp_runs)
        print(f"| {dataset} | {epochs} | {100 * s_mean:.2f} ± {100 * s_err:.2f} | {100 * t_mean:.2f} ± "
              f"{100 * t_err:.2f} | {100 * (t_mean - s_mean):+.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
