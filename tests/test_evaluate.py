"""`load_run` and `torchprimer evaluate`: the run folder read back, metrics checked against scikit-learn."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from safetensors.torch import load_file, save_file
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

import torchprimer
from torchprimer.cli import main
from torchprimer.errors import UserError
from torchprimer.evaluate import class_scores, evaluate_run, format_report, top_losses
from torchprimer.runfolder import load_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> torchprimer.TrainResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHPRIMER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        return torchprimer.train(dataset="digits", epochs=2, device="cpu", out=tmp_path_factory.mktemp("runs"),
                                 progress="none")


def copy_run(trained: torchprimer.TrainResult, tmp_path: Path) -> Path:
    assert trained.run_dir is not None
    return Path(shutil.copytree(trained.run_dir, tmp_path / "run"))


def test_load_run_rebuilds_model_and_test_split(trained: torchprimer.TrainResult) -> None:
    run = load_run(trained.run_dir)
    assert trained.data is not None and run.x_test is not None and run.y_test is not None
    assert torch.equal(run.x_test, trained.data.x_test) and torch.equal(run.y_test, trained.data.y_test)
    weights = load_file(str(trained.run_dir / "model.safetensors"))
    for name, tensor in run.model.state_dict().items():
        assert torch.equal(tensor, weights[name]), name
        assert torch.equal(tensor, trained.model.state_dict()[name].cpu()), name
    assert not run.model.training and run.classes == trained.data.classes and run.input_shape == (1, 8, 8)


def test_evaluate_matches_training_and_sklearn(trained: torchprimer.TrainResult) -> None:
    result = evaluate_run(load_run(trained.run_dir), top=8)
    summary = json.loads((trained.run_dir / "summary.json").read_text())
    assert result["accuracy"] == summary["test_accuracy"]
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-6)
    assert result["accuracy_ci95"] == summary["test_accuracy_ci95"]  # train printed it; evaluate did not

    assert trained.data is not None
    trained.model.eval()
    with torch.no_grad():
        predicted = trained.model(trained.data.x_test).argmax(dim=1).numpy()
    y = trained.data.y_test.numpy()
    assert result["confusion_matrix"] == confusion_matrix(y, predicted, labels=range(10)).tolist()
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=range(10), zero_division=0)
    for i, row in enumerate(result["per_class"]):
        assert row["precision"] == pytest.approx(precision[i]) and row["recall"] == pytest.approx(recall[i])
        assert row["f1"] == pytest.approx(f1[i]) and row["support"] == support[i]
    assert result["macro_f1"] == pytest.approx(f1.mean())

    wrong = int((predicted != y).sum())
    assert len(result["top_losses"]) == min(8, wrong)
    losses = [w["loss"] for w in result["top_losses"]]
    assert losses == sorted(losses, reverse=True) and all(w["true"] != w["predicted"] for w in result["top_losses"])
    for key in ("confusion", "top_losses"):
        assert Path(result["files"][key]).read_bytes()[:8] == PNG_MAGIC
    text = format_report(result)
    assert f"test accuracy {result['accuracy']:.4f}" in text and "confusion matrix" in text
    low, high = result["accuracy_ci95"]
    assert f"test samples (Wilson score): {low:.3f} to {high:.3f}" in text
    listed = [line for line in text.splitlines() if line.startswith("  #")]
    assert len(listed) == len(result["top_losses"]) > 5  # all of them, as the figure shows: it listed 5 at most


def test_class_scores_when_a_class_is_never_predicted_or_absent() -> None:
    y_true = torch.tensor([0, 0, 1, 1, 0])
    y_pred = torch.tensor([0, 0, 0, 0, 2])
    matrix = torch.zeros(3, 3, dtype=torch.long)
    for t, p in zip(y_true, y_pred, strict=True):
        matrix[t, p] += 1
    scores = class_scores(matrix, ["a", "b", "c"])
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1, 2],
                                                                     zero_division=0)
    assert [s["precision"] for s in scores] == pytest.approx(precision.tolist())
    assert [s["recall"] for s in scores] == pytest.approx(recall.tolist())
    assert [s["f1"] for s in scores] == pytest.approx(f1.tolist())
    assert [s["support"] for s in scores] == support.tolist()


def test_top_losses_ranks_wrong_samples_by_loss() -> None:
    probabilities = torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.05, 0.95], [0.6, 0.4]])
    y = torch.tensor([0, 0, 0, 1])
    worst = top_losses(probabilities, y, probabilities.argmax(dim=1), 10)
    assert [w["index"] for w in worst] == [2, 1, 3]
    assert worst[0]["loss"] == pytest.approx(-torch.tensor(0.05).log().item())
    assert worst[0]["confidence"] == pytest.approx(0.95)


def test_cli_evaluate_json(trained: torchprimer.TrainResult, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(trained.run_dir), "--json", "--top-losses", "4"])
    assert exit_info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"accuracy", "loss", "per_class", "confusion_matrix", "top_losses", "files"}
    assert len(result["per_class"]) == 10 and len(result["top_losses"]) <= 4


def test_cli_not_a_run_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = run_cli("evaluate", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "is not a torchprimer run folder" in proc.stderr


def test_cli_truncated_weights_is_one_line_exit_2(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run_dir = copy_run(trained, tmp_path)
    weights = run_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    proc = run_cli("evaluate", str(run_dir))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "model.safetensors is corrupted or truncated" in proc.stderr


def _user_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    return err


def test_other_bad_run_folders(trained: torchprimer.TrainResult, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert "does not exist" in _user_error(["evaluate", str(tmp_path / "missing")], capsys)
    (tmp_path / "file.txt").write_text("x")
    assert "is a file, not a run folder" in _user_error(["export", str(tmp_path / "file.txt"), "-f", "onnx"], capsys)
    bad_config = tmp_path / "bad"
    bad_config.mkdir()
    (bad_config / "config.json").write_text("{not json")
    assert "is not a valid torchprimer config" in _user_error(["predict", str(bad_config), "x.npy"], capsys)


@pytest.mark.parametrize(("block", "key", "value", "says"), [
    ("config", "hidden", "abc", "option 'hidden' is 'abc', not a list of whole numbers"),
    ("config", "lr", "fast", "option 'lr' is 'fast', not a number"),
    ("config", "batchnorm", 1, "option 'batchnorm' is 1, not true or false"),
    ("data", "mean", None, "data.mean must be a non-empty list of numbers"),
    ("data", "input_shape", [64, "x"], "data.input_shape must be a non-empty list of whole numbers"),
    ("data", "classes", "0123456789", "data.classes must list at least two classes"),
])
def test_a_config_json_edited_to_wrong_types_is_one_line_exit_2(
    trained: torchprimer.TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    block: str, key: str, value: object, says: str,
) -> None:
    """Missing keys and bad JSON were caught; values of the wrong type reached torch as TypeErrors."""
    run_dir = copy_run(trained, tmp_path)
    stored = json.loads((run_dir / "config.json").read_text())
    stored[block][key] = value
    (run_dir / "config.json").write_text(json.dumps(stored))
    np.save(tmp_path / "one.npy", np.zeros((1, 8, 8), dtype=np.float32))
    for argv in (["evaluate", str(run_dir)], ["predict", str(run_dir), str(tmp_path / "one.npy")]):
        assert says in _user_error(argv, capsys)


def test_weights_that_do_not_fit_are_refused(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run_dir = copy_run(trained, tmp_path)
    weights = run_dir / "model.safetensors"
    tensors = load_file(str(weights))
    first = next(iter(tensors))
    save_file({**tensors, first: torch.zeros(3, 3)}, str(weights))
    with pytest.raises(UserError, match=f"tensor '{first}' has shape \\(3, 3\\)"):
        load_run(run_dir, with_data=False)
    save_file({k: v for k, v in tensors.items() if k != first}, str(weights))
    with pytest.raises(UserError, match="does not fit the model"):
        load_run(run_dir, with_data=False)
    save_file({**tensors, first: torch.full_like(tensors[first], float("nan"))}, str(weights))
    with pytest.raises(UserError, match="NaN or infinite"):
        load_run(run_dir, with_data=False)
    weights.unlink()
    (run_dir / "summary.json").write_text(json.dumps({"status": "interrupted"}))
    with pytest.raises(UserError, match="train --resume"):
        load_run(run_dir, with_data=False)
    (run_dir / "checkpoint.pt").unlink()  # failed before its first epoch ended: nothing to resume either
    (run_dir / "summary.json").write_text(json.dumps({"status": "failed"}))
    with pytest.raises(UserError, match="failed before its first checkpoint, so there is nothing to evaluate or "
                                        "resume; train it again"):
        load_run(run_dir, with_data=False)


def test_an_edited_mean_is_refused(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """The weights' own record of the normalisation refuses it before the data is read (data that
    changed on disk is refused by its fingerprint and sizes: the next test, and test_resume.py)."""
    run_dir = copy_run(trained, tmp_path)
    stored = json.loads((run_dir / "config.json").read_text())
    stored["data"]["mean"] = [0.5]
    (run_dir / "config.json").write_text(json.dumps(stored))
    with pytest.raises(UserError, match=r"says data\.mean is \[0\.5\], but model\.safetensors was trained with"):
        load_run(run_dir)


def test_edited_test_labels_or_samples_are_refused_not_scored(tmp_path: Path) -> None:
    """Only classes, shapes, sizes and the training mean/std were compared: shuffled test labels
    were scored as if they were training's (0.6 became 0.35, exit 0). A fingerprint of the
    validation and test samples and of the labels now says the data changed."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    archive = tmp_path / "tab.npz"
    np.savez(archive, x=x[:80], y=y[:80], x_test=x[80:], y_test=y[80:])
    run = torchprimer.train(dataset=f"npz:{archive}", epochs=1, out=tmp_path / "runs", progress="none")
    assert load_run(run.run_dir).x_test.shape == (40, 3)  # unchanged files load
    np.savez(archive, x=x[:80], y=y[:80], x_test=x[80:], y_test=1 - y[80:])
    with pytest.raises(UserError, match="validation or test samples, or labels, differ"):
        load_run(run.run_dir)
    moved = x[80:].copy()
    moved[0, 0] += 1
    np.savez(archive, x=x[:80], y=y[:80], x_test=moved, y_test=y[80:])
    with pytest.raises(UserError, match="validation or test samples, or labels, differ"):
        load_run(run.run_dir)


def test_weights_copied_from_another_run_of_the_same_shapes_are_refused(tmp_path: Path) -> None:
    """Names and shapes matched, so another digits MLP's weights were evaluated as this run's
    (0.8722 where summary.json said 0.8833); summary.json now keeps the weights' SHA-256."""
    runs = [torchprimer.train(epochs=1, seed=seed, out=tmp_path / "runs", progress="none") for seed in (0, 1)]
    assert load_run(runs[0].run_dir, with_data=False)  # its own weights load
    shutil.copy(runs[1].run_dir / "model.safetensors", runs[0].run_dir / "model.safetensors")
    with pytest.raises(UserError, match="is not the weights file this run wrote"):
        load_run(runs[0].run_dir, with_data=False)


def test_cli_top_losses_0_draws_none_and_leaves_no_stale_figure(
    trained: torchprimer.TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--top-losses 0 once printed "no test sample is wrong" (false) and kept an earlier top_losses.png."""
    run_dir = copy_run(trained, tmp_path)
    first = evaluate_run(load_run(run_dir), top=4)
    assert first["top_losses"] and (run_dir / "top_losses.png").is_file()  # two epochs leave some wrong
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(run_dir), "--top-losses", "0"])
    text = capsys.readouterr().out
    assert exit_info.value.code == 0 and not (run_dir / "top_losses.png").exists()
    assert "no test sample is wrong" not in text and "top losses: none listed or drawn (--top-losses 0)" in text
    assert f"removed {run_dir / 'top_losses.png'}: an earlier evaluation's figure, not redrawn now" in text
    with pytest.raises(SystemExit):
        main(["evaluate", str(run_dir), "--top-losses", "0", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["top_losses"] == [] and result["top_losses_asked"] == 0 and result["removed"] == []
    assert set(result["files"]) == {"confusion"}


def test_a_run_folder_evaluate_cannot_write_in_still_gets_its_metrics(
    trained: torchprimer.TrainResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A read-only run folder (another user's, a mounted copy): writing confusion.png failed after the metrics
    were computed, so they were lost behind "cannot write in ...; choose another path", advice evaluate has no
    option for. Now the metrics are printed and the missing figures are named with the reason."""
    import tempfile

    from torchprimer import fileio

    run_dir = copy_run(trained, tmp_path)
    (run_dir / "confusion.png").unlink(missing_ok=True)
    real_mkstemp = tempfile.mkstemp

    def read_only(*args: object, dir: str | Path | None = None, **kwargs: object) -> tuple[int, str]:
        if dir is not None and Path(dir).resolve() == run_dir.resolve():
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fileio.tempfile, "mkstemp", read_only)
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(run_dir), "--json"])
    assert exit_info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(trained.test["accuracy"]) and result["files"] == {}
    assert "Permission denied" in result["not_written"] and "choose another path" not in result["not_written"]
    with pytest.raises(SystemExit):
        main(["evaluate", str(run_dir)])
    out = capsys.readouterr().out
    assert f"accuracy {trained.test['accuracy']:.4f}" in out and "figures not written: cannot write in" in out
    assert not (run_dir / "confusion.png").exists()
