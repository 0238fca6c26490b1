"""Open a finished run folder: its config, its data description, its model and its test split.

`evaluate`, `predict` and `export` all start here, so a run folder is checked in one place:
the weights come from `model.safetensors` only (never from unpickling), every tensor's
name and shape must match the model that config.json describes, and the test split is
recomputed with the stored config exactly as training made it (and compared with the
sizes and statistics training recorded, so a changed data set cannot pass unnoticed).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from torchprimer.errors import UserError, brief, resume_command
from torchprimer.fileio import check_readable
from torchprimer.models import Objective, build_model, objective_for
from torchprimer.training.checkpoint import state_dict_mismatch
from torchprimer.training.config import TrainConfig, device_name, resolve_device
from torchprimer.training.run import (
    TRAINED_WITH,
    check_same_data,
    data_moved,
    float32_default,
    load_splits,
    read_run_config,
    read_summary,
    summary_is_this_runs,
    trained_with,
)

WEIGHTS = "model.safetensors"
# What `torchprimer train` writes into a run folder (training/run.py), which nothing else may overwrite.
RUN_FILES = ("config.json", "checkpoint.pt", WEIGHTS, "summary.json", "metrics.csv", "metrics.jsonl",
             "curves.png", "confusion.png")
# What evaluate and export write into it from those weights: once `train --resume` replaces the weights,
# these describe a model that is gone, so it removes them (stale_files_removed).
TOP_LOSSES_PNG = "top_losses.png"
EXPORT_NAMES = {"safetensors": "model.export.safetensors", "torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
MADE_FROM_WEIGHTS = (TOP_LOSSES_PNG, *EXPORT_NAMES.values())


def stale_files_removed(run_dir: Path) -> list[str]:
    """Remove evaluate's and export's files made from the weights a resumed run has just replaced, and
    name them: left in place, a top_losses.png or model.onnx would pass for the new model's. One that
    cannot be removed is named with the reason: the run itself has finished and is saved by then."""
    removed = []
    for name in MADE_FROM_WEIGHTS:
        try:
            (run_dir / name).unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            removed.append(f"{name} (could not be removed: {exc.strerror or exc}; delete it)")
            continue
        removed.append(name)
    return removed


@dataclass
class Run:
    """A loaded run: the model in eval mode on `device`, and what is needed to feed it."""

    run_dir: Path
    config: TrainConfig
    data: dict[str, Any]
    model: nn.Module
    objective: Objective
    device: torch.device
    summary: dict[str, Any]
    x_test: torch.Tensor | None = None  # normalised, on `device`, as training evaluated it
    y_test: torch.Tensor | None = None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.data["classes"]]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.data["input_shape"])

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "table"))

    @property
    def mean(self) -> torch.Tensor:
        """Per-channel mean of the training split, as stored in config.json."""
        return torch.tensor(self.data["mean"], dtype=torch.float32)

    @property
    def std(self) -> torch.Tensor:
        return torch.tensor(self.data["std"], dtype=torch.float32)

    @property
    def raw_range(self) -> tuple[float, float] | None:
        """[min, max] of the training split before normalisation; None for runs older than it."""
        value = self.data.get("range")
        return (float(value[0]), float(value[1])) if value is not None else None


@float32_default()  # a caller's float64 default would build a float64 model for float32 weights and data
def load_run(run_dir: str | Path, device: str | torch.device = "cpu", *, with_data: bool = True) -> Run:
    """Load a run folder; `with_data=False` skips the test split (predict and export need no data).

    Every problem a user can cause (a folder that is not a run, a missing, truncated or
    foreign weights file, a data set that changed since training) is a one-line UserError.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise UserError(f"{run_dir} does not exist; pass a run folder such as runs/20261126-101500-digits-mlp")
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is a file, not a run folder; pass the folder that holds config.json")
    stored = read_run_config(run_dir)
    cfg: TrainConfig = stored["config"]
    data = _check_data_info(stored["data"], run_dir)
    if (run_dir / "summary.json").exists():  # unreadable is not absent: the weights' checksum would go unchecked
        check_readable(run_dir / "summary.json", "run summary")
    summary = read_summary(run_dir)
    target = resolve_device(device_name(device))

    with torch.random.fork_rng(devices=[]):  # the initial weights, replaced next, must not move the caller's stream
        model = build_model(cfg.model_spec, data["input_shape"], len(data["classes"]),
                            "load the run on a machine with more memory")
    model.load_state_dict(read_weights(run_dir / WEIGHTS, model, summary, trained_with(cfg, data)))
    model.to(target).eval()
    run = Run(run_dir=run_dir, config=cfg, data=data, model=model,
              objective=objective_for(model, cfg.label_smoothing), device=target, summary=summary)
    if with_data:
        run.x_test, run.y_test = _test_split(cfg, data, target, run_dir)
    return run


def _check_data_info(data: Any, run_dir: Path) -> dict[str, Any]:
    """The "data" block of config.json must say enough to rebuild the model and its inputs."""
    needed = ("classes", "input_shape", "mean", "std")
    if not isinstance(data, dict) or any(k not in data for k in needed):
        raise UserError(f"{run_dir}/config.json has no complete 'data' block ({', '.join(needed)}); "
                        "it was not written by torchprimer train")

    def numbers(key: str, *, whole: bool = False) -> bool:
        value = data[key]
        kinds = (int,) if whole else (int, float)
        return (isinstance(value, list) and bool(value)
                and all(isinstance(v, kinds) and not isinstance(v, bool) and math.isfinite(v) for v in value))

    problems = [f"data.{key} must be a non-empty list of {'whole ' if key == 'input_shape' else ''}numbers"
                for key in ("input_shape", "mean", "std") if not numbers(key, whole=key == "input_shape")]
    if not isinstance(data["classes"], list) or len(data["classes"]) < 2:
        problems.append("data.classes must list at least two classes")
    if not problems and (min(data["input_shape"]) < 1 or min(data["std"]) < 0):  # std 0: a constant channel
        problems.append("data.input_shape must be positive and data.std not negative")
    if not problems and not len(data["mean"]) == len(data["std"]) == data["input_shape"][0]:
        # one per channel (images, signals) or per feature (tables): the first dimension of the input
        problems.append(f"data.mean and data.std must hold {data['input_shape'][0]} numbers each, one per "
                        f"channel of inputs of shape {data['input_shape']}")
    if not problems and max(abs(v) for v in data["mean"] + data["std"]) > torch.finfo(torch.float32).max:
        problems.append("data.mean and data.std must be within float32's range")
    if "range" in data and not (isinstance(data["range"], list) and len(data["range"]) == 2 and numbers("range")
                                and data["range"][0] <= data["range"][1]):
        problems.append("data.range must be [min, max], two numbers")
    if problems:
        raise UserError(f"{run_dir}/config.json: {problems[0]}; the file was changed since torchprimer train "
                        "wrote it: train again or restore it")
    return data


def read_weights(
    path: Path, model: nn.Module, summary: dict[str, Any] | None = None, described: dict[str, Any] | None = None,
) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked name by name and shape by shape against `model`.

    safetensors holds no code, so reading it cannot run anything; a truncated or garbled
    file fails to parse, and NaN or infinite weights (which a finished run never has) are
    read as corruption too. `described`: what config.json says the model and its inputs are
    (`trained_with`), compared with what the file's metadata says they were in training.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    if not path.is_file():
        status = (summary or {}).get("status")
        if status == "finished":  # the weights were written, then lost: say so, not "did not finish"
            what, first = ("is a folder, not the weights file", "remove that folder, then ") if path.is_dir() else (
                "is missing", "")
            fix = (f"{first}{resume_command(path.parent)} writes it again from checkpoint.pt"
                   if (path.parent / "checkpoint.pt").is_file() else "restore it from a copy or train the run again")
            raise UserError(f"{path} {what}, though the run finished; {fix}")
        if status:  # interrupted or failed
            if not (path.parent / "checkpoint.pt").is_file():  # it stopped before its first epoch ended
                raise UserError(f"{path.parent} has no {path.name}: its training {status} before its first "
                                "checkpoint, so there is nothing to evaluate or resume; train it again")
            raise UserError(f"{path.parent} has no {path.name}: its training did not finish ({status}); "
                            f"finish it with {resume_command(path.parent)}")
        if (path.parent / "checkpoint.pt").is_file():  # stopped (killed, say) before it could write its summary
            raise UserError(f"{path.parent} has no {path.name}: its training did not finish; "
                            f"finish it with {resume_command(path.parent)}")
        raise UserError(f"{path.parent} has no {path.name}; is it a finished torchprimer run folder?")
    check_readable(path, "weights file")
    data = path.read_bytes()
    try:
        tensors = load_safetensors(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise UserError(f"{path} is corrupted or truncated ({brief(exc)}); "
                        "restore it or train the run again") from None
    expected = (summary or {}).get("weights_sha256")
    copied = isinstance(expected, str) and hashlib.sha256(data).hexdigest() != expected
    if described is not None and not copied:  # this run's own weights: a difference is in config.json
        _check_trained_with(path, data, described, summary_is_this_runs(path.parent, summary or {}))
    problem = state_dict_mismatch(tensors, model)
    if problem:
        raise UserError(f"{path} does not fit the model in config.json ({problem}); was it copied from another run?")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{path}: tensor {name!r} holds NaN or infinite values; the file is corrupted")
    if copied:
        raise UserError(f"{path} is not the weights file this run wrote (its SHA-256 differs from the one in "
                        "summary.json); was it copied from another run? Restore it or train the run again")
    return tensors


def _check_trained_with(path: Path, data: bytes, described: dict[str, Any], ours: bool | None) -> None:
    """Refuse a config.json whose model or input options were edited since these weights were
    trained: the shapes may still fit (tanh for relu, another mean), and the run would report
    another model's accuracy. Weights saved before torchprimer kept this record are not checked.
    `ours`: whether summary.json (which vouches for the weights) is this run's by metrics.jsonl's
    timings; where it is not, the weights came with it from another run, and config.json is fine."""
    metadata = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")]).get("__metadata__") or {}
    try:
        trained = json.loads(metadata["trained_with"])
    except (KeyError, TypeError, ValueError):
        return
    if not isinstance(trained, dict):
        return
    edited = [key for key in described if key in trained and trained[key] != described[key]]
    if not edited:
        return
    key = edited[0]
    name = key if key in TRAINED_WITH else f"data.{key}"
    more = f" (and {len(edited) - 1} more option(s))" if len(edited) > 1 else ""
    if ours is False:
        raise UserError(f"{path} and summary.json are not this run's (summary.json's epoch times differ from "
                        f"metrics.jsonl's, and {path.name} was trained with {name} {_shown(trained[key])} where "
                        f"config.json says {_shown(described[key])}): were they copied from another run? Put "
                        "back this run's own, or train the run again")
    raise UserError(f"{path.parent}/config.json says {name} is {_shown(described[key])}, but {path.name} was "
                    f"trained with {_shown(trained[key])}{_where_lists_differ(described[key], trained[key])}: "
                    f"config.json was edited after training; put back {name}: {_shown(trained[key])}{more}, or "
                    "train a new run with the options you want")


def _where_lists_differ(now: Any, then: Any) -> str:
    """Where two lists that `_shown` cuts alike differ: 11 classes against 10 read as the same two lists."""
    if not (isinstance(now, list) and isinstance(then, list)) or _shown(now) != _shown(then):
        return ""
    if len(now) != len(then):
        return f" ({len(now)} entries there, {len(then)} in training)"
    i = next(i for i, (a, b) in enumerate(zip(now, then, strict=True)) if a != b)
    return f" (entry {i} is {json.dumps(now[i])} there, {json.dumps(then[i])} in training)"


def _shown(value: Any) -> str:
    """A value as JSON, a long list (a per-channel mean) cut to its first six entries."""
    if isinstance(value, list) and len(value) > 6:
        return json.dumps(value[:6])[:-1] + ", ...]"
    return json.dumps(value)


def _test_split(
    cfg: TrainConfig, data: dict[str, Any], device: torch.device, run_dir: Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recompute the splits with the stored config; refuse if they differ from training's."""
    with data_moved(cfg, run_dir, 'set "data_dir" in config.json to the folder that holds it now'):
        splits = load_splits(cfg, device)
    check_same_data(splits, data, cfg.dataset, run_dir)
    return splits.x_test, splits.y_test
