"""`torchprimer export RUN_DIR --format safetensors|torchscript|onnx`: a model to ship elsewhere.

An exporter can silently change what a model computes (an unsupported op, a frozen
batch size, train-mode layers), so nothing is reported as exported until the written
file has been loaded back and its outputs compared with the PyTorch model's. The file
is written to a temporary name, checked there, and only then renamed into place: a
failed check or a crash leaves no file behind that looks like a good export.

Every format carries what a user needs to feed the model: the class names and the
training split's mean and std (safetensors metadata, a TorchScript extra file, ONNX
metadata_props).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from torchprimer.errors import UserError
from torchprimer.fileio import atomic_path, check_can_write
from torchprimer.runfolder import EXPORT_NAMES, MADE_FROM_WEIGHTS, RUN_FILES, Run
from torchprimer.training.run import float32_default

FORMATS = ("safetensors", "torchscript", "onnx")
TOLERANCE = 1e-5  # times max(1, the largest |output|): float32 rounding grows with the logits' size
CHECK_BATCH = 32


class ExportCheckFailed(RuntimeError):
    """The exporter failed, or the exported model's outputs differ from PyTorch's beyond the tolerance."""


def sample_batch(run: Run, n: int = CHECK_BATCH) -> torch.Tensor:
    """A seeded standard-normal batch: normalised inputs have mean 0 and std 1 per channel,
    so this exercises the model in the range it was trained on, without loading any data."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(n, *run.input_shape, generator=generator)


@float32_default()
def export_run(run: Run, fmt: str, out: str | Path | None = None) -> dict[str, Any]:
    """Write the run's model in `fmt`, check it against PyTorch, and describe the result."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        _require_onnx()
    if out is not None and not str(out).strip():  # Path("") is ".": the file would land in the current folder
        raise UserError("out is empty; give a file or folder name, or leave it out to write into the run folder")
    path = output_path(run, fmt, out)
    check_can_write(path, "--out")  # now, not after the export and its check
    made = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # folders this export would make
    try:
        return _export_checked(run, fmt, path)
    except (ExportCheckFailed, UserError):
        for folder in made:  # "nothing was written": not even the folders made for it
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _export_checked(run: Run, fmt: str, path: Path) -> dict[str, Any]:
    model = run.model.cpu().eval()
    x = sample_batch(run)
    with torch.inference_mode():  # one sample alone too: a frozen batch size would fail there
        expected, expected_one = model(x).float(), model(x[:1]).float()
    info = _model_info(run)
    writers = {"safetensors": _write_safetensors, "torchscript": _write_torchscript, "onnx": _write_onnx}
    checkers = {"safetensors": _run_safetensors, "torchscript": _run_torchscript, "onnx": _run_onnx}
    with atomic_path(path) as tmp:
        try:
            writers[fmt](run, x, tmp, info)
        except OSError as exc:  # the disk, not the exporter: a full disk or a quota is the user's to fix
            raise UserError(f"cannot write {path}: {exc.strerror or exc}; free some space or choose another "
                            "--out; nothing was written") from None
        except Exception as exc:  # exporters raise many types for an op they cannot translate
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportCheckFailed(f"the {fmt} exporter failed ({first[:160]}); nothing was written") from exc
        worst = 0.0
        for batch, reference in ((x, expected), (x[:1], expected_one)):
            try:
                got = checkers[fmt](run, tmp, batch)
            except Exception as exc:  # the runtime cannot load or run what the exporter wrote
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ExportCheckFailed(f"the written {fmt} file does not run ({first[:160]}); "
                                        "nothing was written") from exc
            if got.shape != reference.shape:
                raise ExportCheckFailed(f"the {fmt} export gives outputs of shape {tuple(got.shape)}, "
                                        f"PyTorch {tuple(reference.shape)}; nothing was written")
            worst = max(worst, float((got.float() - reference).abs().max()))
        # Relative to the outputs' size, as torch.testing and gradcheck's "times max(1, max|grad|)" are: a
        # confident model's logits of 40 differ by more than 1e-5 in another runtime's float32 rounding alone.
        scale = max(1.0, float(expected.abs().max()), float(expected_one.abs().max()))
        allowed = TOLERANCE * scale
        if not worst <= allowed:
            raise ExportCheckFailed(f"the {fmt} export differs from PyTorch by {worst:.3g} (tolerance "
                                    f"{allowed:.3g} = {TOLERANCE:g} x the largest |output| {scale:.3g}) on a batch "
                                    f"of {len(x)} or on 1 sample; nothing was written")
        size = tmp.stat().st_size
    return {"format": fmt, "path": str(path), "bytes": size, "max_abs_diff": worst, "tolerance": allowed,
            "output_scale": scale, "samples": len(x), "input_shape": ["batch", *run.input_shape],
            "classes": run.classes}


SUFFIXES = {"safetensors": (".safetensors",), "torchscript": (".pt", ".pth", ".ts", ".torchscript"),
            "onnx": (".onnx",)}
FORMAT_NAMES = {"safetensors": "a safetensors", "torchscript": "a TorchScript", "onnx": "an ONNX"}  # with article


def output_path(run: Run, fmt: str, out: str | Path | None) -> Path:
    """Where the export goes: `out` as a file, or the default name inside it when it is a folder
    (or ends in a slash, a folder still to make). Never one of the run's own files, whose loss
    would break evaluate, predict or --resume, nor another run folder's files or export names (this
    model as its model.onnx would pass for that run's), and always with the format's file extension."""
    if out is None:
        return run.run_dir / EXPORT_NAMES[fmt]
    path = Path(out)
    folder = path.is_dir() or str(out).endswith(("/", os.sep))
    if folder:
        path = path / EXPORT_NAMES[fmt]
    ours = path.resolve().parent == run.run_dir.resolve()
    theirs = not ours and (path.parent / "config.json").is_file()  # a run folder: a config.json beside it
    if (ours and path.name in RUN_FILES) or (theirs and path.name in (*RUN_FILES, *MADE_FROM_WEIGHTS)):
        whose = ("one of the run's own files" if ours else
                 "a name of another run folder's own files and exports (this model would pass for that run's)")
        what = f"{out} would write {path}, " if folder else f"{out} is "
        raise UserError(f"--out {what}{whose}; write the export elsewhere, e.g. {run.run_dir / EXPORT_NAMES[fmt]}")
    if not folder and path.suffix.lower() not in SUFFIXES[fmt]:
        raise UserError(f"--out {out}: {FORMAT_NAMES[fmt]} file is named *{SUFFIXES[fmt][0]}"
                        f"{' (or ' + ', '.join(SUFFIXES[fmt][1:]) + ')' if len(SUFFIXES[fmt]) > 1 else ''}; "
                        f"e.g. --out {path.with_suffix(SUFFIXES[fmt][0])}")
    return path


def _model_info(run: Run) -> dict[str, str]:
    """String metadata that travels inside every exported file."""
    return {
        "format": "torchprimer", "model": run.config.model, "dataset": run.config.dataset,
        "classes": json.dumps(run.classes), "input_shape": json.dumps(list(run.input_shape)),
        "mean": json.dumps(run.data["mean"]), "std": json.dumps(run.data["std"]),
        "kind": run.kind, "config": json.dumps(run.config.to_dict()),
        "output": "probability of the second class" if run.objective.binary else "logits (apply softmax)",
    }


def _write_safetensors(run: Run, x: torch.Tensor, tmp: Path, info: dict[str, str]) -> None:
    from safetensors.torch import save_file

    from torchprimer.training.run import weight_tensors

    save_file(weight_tensors(run.model), str(tmp), metadata=info)


def _run_safetensors(run: Run, tmp: Path, x: torch.Tensor) -> torch.Tensor:
    """Rebuild the model from config.json and the written file, as a user of the file would."""
    import copy

    from torchprimer.runfolder import read_weights

    model = copy.deepcopy(run.model).cpu()
    model.load_state_dict(read_weights(tmp, model))
    with torch.inference_mode():
        return model.eval()(x)


@contextlib.contextmanager
def _quiet_torchscript() -> Iterator[None]:
    """PyTorch marks torch.jit as deprecated; the user asked for TorchScript, so say it once in --help."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated", category=UserWarning)
        yield


def _write_torchscript(run: Run, x: torch.Tensor, tmp: Path, info: dict[str, str]) -> None:
    # Tracing records the eval-mode graph (dropout off, batch norm on running statistics).
    with _quiet_torchscript(), torch.no_grad():
        traced = torch.jit.trace(run.model.cpu().eval(), x)
        # Saved to a buffer: given a path, torch names the zip's top folder after the file, so the
        # temporary name (and so the bytes and size) would differ from export to export.
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"torchprimer.json": json.dumps(info)})
    tmp.write_bytes(buffer.getvalue())


def _run_torchscript(run: Run, tmp: Path, x: torch.Tensor) -> torch.Tensor:
    with _quiet_torchscript(), torch.inference_mode():
        return torch.jit.load(str(tmp), map_location="cpu")(x)


def _require_onnx() -> None:
    missing = [m for m in ("onnx", "onnxruntime", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"ONNX export needs {', '.join(missing)}; install them with: pip install 'torchprimer[onnx]'")


def _write_onnx(run: Run, x: torch.Tensor, tmp: Path, info: dict[str, str]) -> None:
    import onnx

    batch = torch.export.Dim("batch")
    output = "probability" if run.objective.binary else "logits"
    # The exporter logs its progress on stdout; keep the command's output to its own lines.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            run.model.cpu().eval(), (x,), str(tmp), dynamo=True, external_data=False, verbose=False,
            input_names=["input"], output_names=[output], dynamic_shapes=({0: batch},),
        )
    proto = onnx.load(str(tmp))
    for key, value in info.items():
        proto.metadata_props.add(key=f"torchprimer.{key}", value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))


def _run_onnx(run: Run, tmp: Path, x: torch.Tensor) -> torch.Tensor:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def format_export(result: dict[str, Any]) -> str:
    return (f"wrote {result['path']} ({result['format']}, {result['bytes']:,} bytes)\n"
            f"checked against PyTorch on {result['samples']} samples and on 1: max abs difference "
            f"{result['max_abs_diff']:.3g} (tolerance {result['tolerance']:.3g} = {TOLERANCE:g} x "
            f"max(1, largest |output| {result['output_scale']:.3g}))")
