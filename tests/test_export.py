"""`torchprimer export`: every format loaded back independently and compared with PyTorch."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from safetensors import safe_open

import torchprimer
from torchprimer import export as export_module
from torchprimer.cli import main
from torchprimer.errors import UserError
from torchprimer.export import ExportCheckFailed, export_run
from torchprimer.runfolder import load_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> torchprimer.TrainResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHPRIMER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        return torchprimer.train(dataset="digits", epochs=2, device="cpu", out=tmp_path_factory.mktemp("runs"),
                                 progress="none")


def reference(trained: torchprimer.TrainResult) -> tuple[torch.Tensor, torch.Tensor]:
    """Real test inputs (not the exporter's own check batch) and the PyTorch model's logits on them."""
    assert trained.data is not None
    x = trained.data.x_test[:50].cpu()
    trained.model.eval()
    with torch.no_grad():
        return x, trained.model(x)


def test_onnx_matches_pytorch_on_test_data(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    out = tmp_path / "nested" / "digits.onnx"
    result = export_run(load_run(trained.run_dir, with_data=False), "onnx", out)
    assert result["path"] == str(out) and result["max_abs_diff"] <= 1e-5
    x, expected = reference(trained)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])
    assert float((got - expected).abs().max()) <= 1e-5
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["torchprimer.classes"]) == trained.data.classes
    assert json.loads(props["torchprimer.mean"]) == pytest.approx(trained.data.mean.tolist())
    assert sorted(p.name for p in out.parent.iterdir()) == ["digits.onnx"]  # no temporary file left


@pytest.mark.filterwarnings(r"ignore:.*torch\.jit.*deprecated:FutureWarning")
def test_torchscript_and_safetensors_match_pytorch(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run = load_run(trained.run_dir, with_data=False)
    x, expected = reference(trained)

    ts = export_run(run, "torchscript", tmp_path)  # a folder: the default name goes inside
    assert Path(ts["path"]) == tmp_path / "model.torchscript.pt" and ts["max_abs_diff"] <= 1e-5
    extra = {"torchprimer.json": ""}
    loaded = torch.jit.load(ts["path"], _extra_files=extra)
    with torch.no_grad():
        assert float((loaded(x) - expected).abs().max()) <= 1e-5
    assert json.loads(extra["torchprimer.json"])["model"] == "mlp"

    st = export_run(run, "safetensors", tmp_path / "weights.safetensors")
    assert st["max_abs_diff"] == 0.0
    with safe_open(st["path"], framework="pt") as fh:
        meta = fh.metadata()
        for name, tensor in trained.model.state_dict().items():
            assert torch.equal(fh.get_tensor(name), tensor.cpu())
    assert json.loads(meta["std"]) == pytest.approx(trained.data.std.tolist())
    assert json.loads(meta["config"])["epochs"] == 2


def test_torchscript_bytes_do_not_depend_on_the_file_name(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """torch names the zip's top folder after the path it saves to: the export's random temporary
    name made every export's bytes (and a longer name its size) differ for the same weights. Two
    processes, as two users' exports are (a second trace in one process renames its classes)."""
    files = [tmp_path / "m.pt", tmp_path / "a_much_longer_file_name_for_the_same_model.pt"]
    for path in files:
        done = run_cli("export", str(trained.run_dir), "--format", "torchscript", "--out", str(path))
        assert done.returncode == 0, done.stderr
    assert files[0].read_bytes() == files[1].read_bytes()


def test_a_failed_check_leaves_no_file(trained: torchprimer.TrainResult, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real = export_module._run_torchscript
    monkeypatch.setattr(export_module, "_run_torchscript", lambda run, path, x: real(run, path, x) + 1e-3)
    with pytest.raises(ExportCheckFailed, match=r"differs from PyTorch by 0\.001"):
        export_run(load_run(trained.run_dir, with_data=False), "torchscript", tmp_path / "new" / "dir" / "m.pt")
    assert list(tmp_path.iterdir()) == []  # not even the folders made for it


def test_a_full_disk_is_a_write_error_exit_2_and_leaves_nothing(
    trained: torchprimer.TrainResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk while writing was reported as "the torchscript exporter failed" with exit 1, a fault of the
    exporter, and the folders made for --out stayed behind."""
    import errno

    real_write = Path.write_bytes

    def full(self: Path, data: bytes) -> int:
        if self.name.startswith(".m.pt."):  # the atomic writer's temporary file for m.pt
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "new" / "dir" / "m.pt"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(trained.run_dir), "--format", "torchscript", "--out", str(out)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {out}: No space left on device; free some space")
    assert "exporter" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_tolerance_grows_with_the_outputs_size(trained: torchprimer.TrainResult, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A confident model (logits of ~40) differs by ~1.3e-5 in onnxruntime's float32 rounding alone,
    a relative 4e-7: a fixed 1e-5 refused that correct export. The same relative error passes now."""
    run = load_run(trained.run_dir, with_data=False)
    with torch.no_grad():
        run.model[-1].weight.mul_(1000)  # outputs in the thousands
        run.model[-1].bias.mul_(1000)
    real = export_module._run_torchscript

    def rounded(run_: object, path: Path, x: torch.Tensor) -> torch.Tensor:
        got = real(run_, path, x)
        return got * (1 + 4e-7)  # what another runtime's float32 rounding may do, relatively

    monkeypatch.setattr(export_module, "_run_torchscript", rounded)
    result = export_run(run, "torchscript", tmp_path / "m.pt")
    assert result["output_scale"] > 1000 and 1e-5 < result["max_abs_diff"] <= result["tolerance"]
    assert result["tolerance"] == pytest.approx(1e-5 * result["output_scale"])


def test_cli_export_json_and_bad_format(trained: torchprimer.TrainResult, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(trained.run_dir), "--format", "torchscript", "--out", str(tmp_path / "m.pt"), "--json"])
    assert exit_info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["format"] == "torchscript" and Path(result["path"]).is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(trained.run_dir), "--format", "pickle"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "use one of safetensors, torchscript, onnx" in err


def test_onnx_missing_says_how_to_install(trained: torchprimer.TrainResult, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what find_spec reports for a missing module
    with pytest.raises(UserError, match=r"pip install 'torchprimer\[onnx\]'"):
        export_run(load_run(trained.run_dir, with_data=False), "onnx", tmp_path / "m.onnx")


def test_cli_export_truncated_weights_is_one_line_exit_2(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(trained.run_dir, tmp_path / "run"))
    weights = run_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    proc = run_cli("export", str(run_dir), "--format", "onnx")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "model.safetensors is corrupted or truncated" in proc.stderr
    assert not (run_dir / "model.onnx").exists()


def test_export_never_overwrites_the_runs_own_files(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """`--out RUN/model.safetensors` used to replace the weights with an ONNX file (exit 0), after
    which evaluate and predict failed; every file train wrote is refused, whatever the format."""
    run_dir = Path(shutil.copytree(trained.run_dir, tmp_path / "run"))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for name in ("model.safetensors", "config.json", "checkpoint.pt", "summary.json"):
        proc = run_cli("export", str(run_dir), "--format", "torchscript", "--out", str(run_dir / name))
        assert proc.returncode == 2 and "one of the run's own files" in proc.stderr, name
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before
    # nor another run's: `--out OTHER_RUN/model.safetensors` replaced that run's weights (exit 0)
    other = Path(shutil.copytree(trained.run_dir, tmp_path / "other"))
    before = {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    # nor its export names: `--out OTHER_RUN/` wrote this model as that run's model.onnx, which would pass
    # for that run's model (and its next --resume removes)
    for out in ("model.safetensors", "checkpoint.pt", "model.export.safetensors", ""):
        proc = run_cli("export", str(run_dir), "--format", "safetensors", "--out", f"{other}/{out}")
        assert proc.returncode == 2 and "a name of another run folder's own files and exports" in proc.stderr, out
    assert {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()} == before


def test_export_file_names_follow_the_format(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run = load_run(trained.run_dir, with_data=False)
    with pytest.raises(UserError, match=r"a safetensors file is named \*\.safetensors; e\.g\. --out .*w\.safetensors"):
        export_run(run, "safetensors", tmp_path / "w.bin")
    new = tmp_path / "new"  # a trailing slash names a folder still to make, not a file called 'new'
    result = export_run(run, "torchscript", f"{new}/")
    assert Path(result["path"]) == new / "model.torchscript.pt" and new.is_dir()
    assert export_run(run, "torchscript", tmp_path / "m.pth")["path"].endswith("m.pth")


def test_help_states_the_tolerance_the_check_uses(capsys: pytest.CaptureFixture[str]) -> None:
    """The check allows TOLERANCE x max(1, the largest |output|), not a flat 1e-5: --help says so."""
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert export_module.TOLERANCE == 1e-5 and "<= 1e-5 x max(1, the largest |output|)" in out
