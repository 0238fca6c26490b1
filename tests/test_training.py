"""The training loop and the run folder: learning, eval mode, no autograd in evaluation,
determinism, and every file a run folder promises."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import torchprimer
from torchprimer.models import Objective
from torchprimer.progress import Silent
from torchprimer.training.loop import evaluate


def test_loss_decreases_and_accuracy_beats_chance() -> None:
    result = torchprimer.train(epochs=4, save=False, progress="none")
    losses = [r["train_loss"] for r in result.history]
    assert all(b < a for a, b in itertools.pairwise(losses)), losses
    assert result.test["accuracy"] > 0.5  # ten classes: chance is 0.1
    assert result.run_dir is None


class _Spy(nn.Module):
    """Records the mode and autograd state each forward pass sees."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.seen: list[tuple[bool, bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
        return self.linear(x)


def test_evaluation_runs_in_eval_mode_without_autograd_and_restores_mode() -> None:
    spy = _Spy()
    spy.train()
    x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    metrics = evaluate(spy, x, y, Objective(binary=False))
    assert spy.seen == [(False, False, True)]
    assert spy.training  # put back in training mode afterwards
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["loss"] > 0


def test_same_seed_gives_identical_metrics_csv(tmp_path) -> None:
    a = torchprimer.train(epochs=3, seed=7, out=tmp_path / "a", progress="none")
    b = torchprimer.train(epochs=3, seed=7, out=tmp_path / "b", progress="none")
    c = torchprimer.train(epochs=3, seed=8, out=tmp_path / "c", progress="none")
    text = (a.run_dir / "metrics.csv").read_bytes()
    assert text == (b.run_dir / "metrics.csv").read_bytes()
    assert text != (c.run_dir / "metrics.csv").read_bytes()


def test_run_folder_holds_everything_promised(tmp_path) -> None:
    result = torchprimer.train(epochs=2, out=tmp_path, progress="none")
    run = result.run_dir
    assert run.parent == tmp_path and run.name.endswith("-digits-mlp")
    for name in ["config.json", "metrics.csv", "metrics.jsonl", "summary.json", "model.safetensors",
                 "checkpoint.pt", "curves.png", "confusion.png"]:
        assert (run / name).is_file(), name
    assert not list(run.glob(".*.tmp")), "temporary files left behind"
    config = json.loads((run / "config.json").read_text())
    assert config["config"]["epochs"] == 2 and config["config"]["hidden"] == [128]
    assert config["data"]["classes"] == [str(i) for i in range(10)]
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "train_loss", "train_acc"] and len(rows) == 3
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(result.test["accuracy"])
    weights = load_file(run / "model.safetensors")
    for key, value in result.model.state_dict().items():
        assert torch.equal(weights[key], value.cpu()), key  # written from the CPU, whatever the device
    for png in ["curves.png", "confusion.png"]:
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nan_loss_stops_with_epoch_and_step(tmp_path) -> None:
    from torchprimer.errors import TrainingDiverged

    with pytest.raises(TrainingDiverged, match=r"epoch \d+, step \d+.*--lr"):
        torchprimer.train(epochs=3, lr=1e6, optimizer="sgd", momentum=0.0, out=tmp_path, progress="none")
    summary = json.loads(next(tmp_path.iterdir()).joinpath("summary.json").read_text())
    assert summary["status"] == "failed"


@pytest.mark.parametrize("model", ["linear", "mlp", "cnn"])
def test_each_model_trains_on_digits(model: str) -> None:
    result = torchprimer.train(model=model, epochs=1, save=False, progress="none")
    assert result.test["accuracy"] > 0.2


def test_cnn_reads_a_tables_rows_as_one_channel_signals() -> None:
    # flat (N, F) data once reached Conv1d unreshaped and crashed; now each row is a (1, F) signal
    result = torchprimer.train(dataset="moons", model="cnn", epochs=5, save=False, progress="none")
    assert result.test["accuracy"] > 0.6  # two classes: chance is 0.5


def test_neuron_trains_on_two_classes_with_bce() -> None:
    from torchprimer.data import Dataset
    from torchprimer.data.splits import prepare
    from torchprimer.models import ModelSpec, build_model, objective_for
    from torchprimer.progress import Silent
    from torchprimer.training.config import TrainConfig
    from torchprimer.training.loop import fit

    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 3, generator=g)
    y = (x @ torch.tensor([1.0, -2.0, 0.5]) > 0).long()
    splits = prepare(Dataset("line", x, y, ["neg", "pos"]), split_seed=0)
    model = build_model(ModelSpec(name="neuron"), splits.input_shape, 2)
    objective = objective_for(model)
    assert objective.binary
    cfg = TrainConfig(epochs=30, lr=0.05)
    fit(model, splits, cfg, objective, Silent())
    assert evaluate(model, splits.x_test, splits.y_test, objective)["accuracy"] > 0.9


def test_threads_apply_to_the_call_only_and_keep_the_results() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []

    class Watch(Silent):
        def epoch(self, record: dict[str, float]) -> None:
            seen.append(torch.get_num_threads())

    one = torchprimer.train(epochs=2, save=False, progress=Watch(), threads=1)
    assert seen == [1, 1] and torch.get_num_threads() == before
    with pytest.raises(torchprimer.UserError, match="--threads 0"):
        torchprimer.train(epochs=1, save=False, progress="none", threads=0)
    assert one.test["accuracy"] > 0.5


def test_wilson_interval_matches_textbook_values_and_is_in_the_summary() -> None:
    from torchprimer.training.run import wilson_interval

    low, high = wilson_interval(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    low, high = wilson_interval(1.0, 10)  # a perfect score on 10 samples still leaves doubt
    assert low == pytest.approx(0.7225, abs=1e-4) and high == pytest.approx(1.0)
    result = torchprimer.train(epochs=1, save=False, progress="none")
    summary = result.summary()
    assert summary["test_samples"] == len(result.data.y_test) == 180
    low, high = summary["test_accuracy_ci95"]
    assert low < summary["test_accuracy"] < high


def test_small_mlps_train_on_one_thread_unless_threads_says_otherwise() -> None:
    from torchprimer.models import ModelSpec, build_model
    from torchprimer.training.run import auto_threads

    cpu = torch.device("cpu")
    assert auto_threads(build_model(ModelSpec(name="mlp"), (1, 8, 8), 10), cpu) == 1  # digits: 9.6k parameters
    assert auto_threads(build_model(ModelSpec(name="mlp"), (1, 28, 28), 10), cpu) is None  # MNIST: 102k
    assert auto_threads(build_model(ModelSpec(name="cnn"), (1, 8, 8), 10), cpu) is None  # convolutions
    assert auto_threads(build_model(ModelSpec(name="mlp"), (1, 8, 8), 10), torch.device("meta")) is None

    before = torch.get_num_threads()
    seen: list[int] = []

    class Watch(Silent):
        def epoch(self, record: dict[str, float]) -> None:
            seen.append(torch.get_num_threads())

    torchprimer.train(epochs=1, device="cpu", save=False, progress=Watch())
    torchprimer.train(epochs=1, device="cpu", save=False, progress=Watch(), threads=2)  # --threads overrides it
    assert seen == [1, 2] and torch.get_num_threads() == before


def test_the_progress_bar_prints_epoch_lines_without_colouring_parts_of_numbers() -> None:
    """On a terminal rich's highlighter coloured '0.02s' as '0.' plus a plain '02s'."""
    import io
    import re

    from rich.console import Console

    from torchprimer.progress import Bar

    bar = Bar(Console(file=io.StringIO(), force_terminal=True, width=120))
    bar.start(epochs=1, steps_per_epoch=1, first_epoch=0)
    bar.epoch({"epoch": 1, "train_loss": 0.5, "train_acc": 0.9, "val_loss": 0.4, "val_acc": 0.95, "seconds": 0.02})
    bar.close()
    text = bar.console.file.getvalue()
    line = next(line for line in text.splitlines() if "train loss" in line)
    assert not re.search(r"\x1b\[[0-9;]*m", line) and "0.02s" in line, repr(line)  # no colour codes


def test_every_seed_the_options_allow_orders_the_data() -> None:
    """seed * 1_000_003 passed 2**64 for seeds over ~1.8e13: train and lr-find died with an OverflowError
    traceback for seeds their --help allows. Seeds that worked keep their order."""
    from torchprimer.data.batches import epoch_permutation
    from torchprimer.training.config import SEED_MAX

    for seed in (2 * 10**13, SEED_MAX):
        assert sorted(epoch_permutation(50, seed, 3, "cpu").tolist()) == list(range(50))
    expected = torch.randperm(50, generator=torch.Generator().manual_seed(7 * 1_000_003 + 2))
    assert torch.equal(epoch_permutation(50, 7, 2, "cpu"), expected)


def test_train_json_prints_what_summary_json_holds(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """`train --json` prints "the summary": it left out summary.json's weights_sha256, and --resume prints
    the same for the continued run."""
    from torchprimer.cli import main

    for argv in (["--epochs", "1", "--out", str(tmp_path)], ["--epochs", "2"]):
        if argv[-1] == "2":
            argv += ["--resume", str(next(tmp_path.iterdir()))]
        with pytest.raises(SystemExit) as exit_info:
            main(["train", "--json", *argv])
        printed = json.loads(capsys.readouterr().out)
        stored = json.loads((next(tmp_path.iterdir()) / "summary.json").read_text())
        assert exit_info.value.code == 0 and printed == stored
        assert len(printed["weights_sha256"]) == 64 and printed["epochs_run"] == int(argv[1])


def test_summary_gives_the_validation_figures_of_the_weights_kept(tmp_path) -> None:
    """--early-stopping saves the best epoch's weights, but the summary's one validation figure was the
    last epoch's (final_val_accuracy), of weights it had discarded: the best epoch's are there too."""
    from torchprimer.models import objective_for

    result = torchprimer.train(out=tmp_path, epochs=40, early_stopping=2, lr=0.01, hidden=32, progress="none")
    summary = json.loads((result.run_dir / "summary.json").read_text())
    best = result.history[result.best_epoch - 1]
    assert result.stopped_early and summary["best_epoch"] < summary["epochs_run"]  # a run the test is about
    assert summary["weights_epoch"] == summary["best_epoch"]
    assert (summary["best_val_loss"], summary["best_val_accuracy"]) == (best["val_loss"], best["val_acc"])
    assert summary["final_val_accuracy"] == result.history[-1]["val_acc"] != summary["best_val_accuracy"]
    data = result.data
    kept = evaluate(result.model, data.x_val, data.y_val, objective_for(result.model, 0.0))
    assert kept["accuracy"] == summary["best_val_accuracy"]  # the figures are of the weights saved
    assert kept["loss"] == pytest.approx(summary["best_val_loss"], rel=1e-5)

    plain = torchprimer.train(save=False, epochs=3, hidden=8, progress="none").summary()
    assert plain["weights_epoch"] == plain["epochs_run"] == 3  # no early stopping: the last epoch's weights
