"""The §7 commands from a shell: the seed's example, and one-line errors with exit code 2."""

from __future__ import annotations

import pytest
from conftest import run_cli


def test_backprop_prints_the_right_gradients_and_the_seed_correction() -> None:
    proc = run_cli("backprop")
    assert proc.returncode == 0, proc.stderr
    assert "∂loss/∂w                -2.0           -2.0" in proc.stdout
    assert "∂loss/∂b                -1.0           -1.0" in proc.stdout
    assert "∂loss/∂x                -1.0           -1.0" in proc.stdout
    assert "The seed says w.grad is 4.0" in proc.stdout


def test_backprop_loss_ce_alone_takes_a_probability_target() -> None:
    # the seed's target 3.0 is no probability: --loss ce once failed unless --y was given too
    proc = run_cli("backprop", "--loss", "ce", "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"y": 1.0' in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["activations", "--names", "sigmoid,swish"], "unknown activation 'swish'; known: relu, leaky_relu"),
    (["backprop", "--x", "nan"], "--x nan is not a finite number"),
    (["backprop", "--loss", "ce", "--y", "3"], "--loss ce needs a target probability --y in [0, 1], got 3.0"),
    (["gradcheck", "--module", "torch.nn:Tanh"], "Tanh has no trainable parameters"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("y", ["nan", "inf"])
def test_backprop_ce_with_a_non_finite_target_asks_for_a_probability(
    y: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It once advised '--y 2.0', which --loss ce refuses next: the target is a probability."""
    from torchprimer.cli import main

    with pytest.raises(SystemExit) as done:
        main(["backprop", "--loss", "ce", "--y", y])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1, err
    assert f"--y {y} is not a finite number; --loss ce needs a target probability --y in [0, 1]" in err
    assert "2.0" not in err
