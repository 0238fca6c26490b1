"""`activations --train`: the same deep MLP per activation shows sigmoid's vanishing gradients."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from torchprimer.activations import compare_training, findings, plot_gradient_heatmap, render_training


def test_sigmoid_early_layers_get_orders_of_magnitude_smaller_gradients(tmp_path: Path) -> None:
    # smaller than the defaults (8 x 64, 20 epochs) to stay quick; deep enough for the effect
    result = compare_training("sigmoid,relu", depth=6, width=32, epochs=2, out=tmp_path)
    runs = {r["activation"]: r for r in result["runs"]}
    sigmoid, relu = runs["sigmoid"], runs["relu"]
    assert len(sigmoid["grad_norm_at_init"]) == 7 and len(sigmoid["grad_norms"]) == 3  # init + 2 epochs
    gap = relu["grad_norm_at_init"][0] / sigmoid["grad_norm_at_init"][0]
    assert gap >= 100, gap
    # and it is the early layers that starve: sigmoid's gradient shrinks layer by layer toward the input
    assert sigmoid["grad_norm_at_init"][-1] / sigmoid["grad_norm_at_init"][0] >= 1000
    assert relu["grad_norm_during_training"][0] / sigmoid["grad_norm_during_training"][0] >= 10
    text = render_training(result)
    assert "Vanishing gradients: sigmoid's first layer" in text and "orders of magnitude" in text
    assert 0 <= relu["dead_units_at_init"] <= 1 and sigmoid["dead_units_at_end"] == 0
    # the default optimiser (Adam) really trains: relu's validation loss falls, above chance
    assert relu["history"][-1]["val_loss"] < relu["history"][0]["val_loss"]
    assert relu["test_accuracy"] > 0.15  # chance is 0.10; two short epochs of this deep net
    for name in ("loss-curves.png", "gradient-norms.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "activations-train.json").is_file()


def test_same_seed_gives_the_same_initial_weights_for_every_activation() -> None:
    # gradients at init differ only through the activation: with identical weights, leaky_relu's
    # last-layer gradient is close to relu's (they differ only for negative inputs)
    result = compare_training("relu,leaky_relu", depth=2, width=8, epochs=1)
    relu, leaky = (r["grad_norm_at_init"] for r in result["runs"])
    assert abs(relu[-1] - leaky[-1]) / relu[-1] < 0.1


def test_a_diverged_run_is_written_as_strict_json(tmp_path: Path) -> None:
    """lr 1e308 makes every loss NaN; activations-train.json once held NaN literals, which JSON.parse rejects."""
    import json
    import math

    def strict(constant: str) -> float:
        raise AssertionError(f"{constant} is not JSON")

    result = compare_training("relu", depth=1, width=4, epochs=1, lr=1e308, out=tmp_path)
    assert math.isnan(result["runs"][0]["test_loss"])
    written = json.loads((tmp_path / "activations-train.json").read_text(), parse_constant=strict)
    assert written["runs"][0]["test_loss"] is None and written["runs"][0]["history"][0]["train_loss"] is None
    assert written["settings"]["lr"] == 1e308


@pytest.mark.parametrize(("sigmoid_acc", "relu_acc", "says"), [
    (0.194, 0.956, "its early layers barely learn (test accuracy 0.194 vs 0.956)"),
    (0.100, 0.100, "relu learned nothing either (test accuracy 0.100 vs 0.100, chance 0.100)"),
    (0.940, 0.956, "the other layers made up for it (test accuracy 0.940 vs 0.956)"),
])
def test_the_vanishing_gradient_sentence_cites_the_accuracies_only_for_what_they_show(
    sigmoid_acc: float, relu_acc: float, says: str,
) -> None:
    """`--depth 12 --epochs 1` left relu at chance too: 'barely learn (0.100 vs 0.100)' proved nothing."""
    def run(name: str, first: float, accuracy: float) -> dict:
        return {"activation": name, "grad_norm_at_init": [first], "grad_norm_during_training": [first],
                "test_accuracy": accuracy, "chance_accuracy": 0.1, "dead_units_at_init": 0, "dead_units_at_end": 0}

    lines = findings([run("sigmoid", 1e-7, sigmoid_acc), run("relu", 1e-3, relu_acc)])
    assert lines[0].startswith("Vanishing gradients: sigmoid's first layer") and says in lines[0]


def test_a_diverged_run_is_named_as_such_not_compared(tmp_path: Path) -> None:
    """`--lr 100` made relu's gradients overflow: the findings read "infx smaller on average during
    training" and advised more epochs, the loss column printed 311639932705300001467662336.0000, and
    the heat map's colour scale became NaN (a RuntimeWarning from matplotlib on stderr)."""
    import warnings

    def run(name: str, first: float, during: float, diverged_at: int | None, loss: float) -> dict:
        return {"activation": name, "grad_norm_at_init": [first], "grad_norm_during_training": [during],
                "test_accuracy": 0.1, "chance_accuracy": 0.1, "dead_units_at_init": 0, "dead_units_at_end": 0,
                "diverged_at": diverged_at, "history": [{"epoch": 1, "train_loss": loss}], "seconds": 0.1}

    runs = [run("sigmoid", 1e-7, 1e-8, None, 2.3), run("relu", 1e-3, math.inf, 1, 3.1e26)]
    said = findings(runs)
    assert "inf" not in said[0] and "train longer" not in said[0] and "during training" not in said[0]
    assert said[1].startswith("relu diverged: its training loss or weight gradients overflowed in epoch 1")
    table = render_training({"settings": {"dataset": "digits", "hidden": [4], "optimizer": "adam", "lr": 100.0,
                                          "epochs": 1, "batch_size": 64, "seed": 0, "init": "torch"},
                             "runs": runs, "findings": said}).splitlines()
    assert " 3.100e+26 " in table[-4] and len(table[-4]) == len(table[-5])  # the loss column keeps its width
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compare_training("relu", depth=1, width=4, epochs=1, lr=1e308, out=tmp_path)
        plot_gradient_heatmap([{"activation": "relu", "grad_norms": [[1e-3, 1e-2], [math.inf, math.inf]]},
                               {"activation": "tanh", "grad_norms": [[1e-3, 1e-2], [1e-3, 1e-2]]}],
                              tmp_path / "overflowed.png")
    assert result["runs"][0]["diverged_at"] == 1 and (tmp_path / "overflowed.png").is_file()


def test_the_header_counts_one_epoch_and_one_layer_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`activations --train --epochs 1` printed "1 epochs" in its header."""
    from torchprimer.cli import main

    with pytest.raises(SystemExit) as done:
        main(["activations", "--train", "--names", "relu", "--depth", "1", "--width", "4", "--epochs", "1",
              "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert done.value.code in (0, None), err
    assert out.splitlines()[0] == ("digits: MLP with 1 hidden layer of 4, adam lr 0.001, 1 epoch, batch 64, seed 0, "
                                   "init torch")
    settings = {"dataset": "digits", "hidden": [4, 4], "optimizer": "adam", "lr": 0.001, "epochs": 2,
                "batch_size": 64, "seed": 0, "init": "torch"}
    runs = [{"activation": "relu", "grad_norm_at_init": [1e-3, 1e-2, 1e-1], "test_accuracy": 0.5,
             "dead_units_at_end": 0.0, "seconds": 0.1, "history": [{"epoch": 2, "train_loss": 1.0}]}]
    header = render_training({"settings": settings, "runs": runs, "findings": []}).splitlines()[0]
    assert "MLP with 2 hidden layers of 4" in header and ", 2 epochs, " in header
