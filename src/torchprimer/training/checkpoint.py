"""Checkpoints that resume exactly and load without unpickling code.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so it loads with
`torch.load(..., weights_only=True)`; it is written to a temporary file and renamed, so
a crash or SIGKILL mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchprimer.errors import UserError, brief
from torchprimer.fileio import check_readable, write_atomic
from torchprimer.training.config import RESUME_MAY_CHANGE

FORMAT = "torchprimer-checkpoint-1"
KEYS = ("config", "epoch", "model", "optimizer", "history", "best", "rng")  # what `save` is given, by fit


def rng_state(*, cuda: bool = True) -> dict[str, Any]:
    """Every random number generator the loop may touch, in a weights-only-safe form; `cuda=False`
    leaves out the CUDA generators (reading them starts CUDA)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if cuda and torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(v: Any) -> Any:
    return tuple(_as_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


def _what_is_wrong(path: Path, exc: BaseException) -> str:
    """In plain words where possible: torch.save writes a zip archive, whose directory is at its end,
    so a file cut short (a copy interrupted, a full disk) has none; torch's own message says so
    in terms of its reader's internals, or as a bare OS error."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty"
    if not zipfile.is_zipfile(path):
        return (f"{size:,} bytes and no zip directory at the end, where torch.save puts one: "
                "cut short, or another kind of file")
    return brief(exc)


def save(path: str | Path, state: dict[str, Any]) -> None:
    """Write `state` atomically with a format tag."""
    write_atomic(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def load(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with weights_only=True; anything else is a clear UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no checkpoint at {path}; is this a torchprimer run folder?")
    check_readable(path, "checkpoint")  # unreadable is not corrupt: "delete it" would lose a good checkpoint
    try:
        state = _torch_load(path)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        unsafe = "weights_only" in str(exc) or "Unsupported global" in str(exc)
        if unsafe and zipfile.is_zipfile(path):  # a real torch.save archive whose pickle wants code run
            raise UserError(
                f"{path} would need unpickling code to load, which torchprimer refuses "
                "(weights_only=True); it was not written by torchprimer"
            ) from None
        why = _what_is_wrong(path, exc)
        raise UserError(f"{path} is corrupt or truncated ({why}); delete it or train again") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not a torchprimer checkpoint (format tag missing)")
    missing = [key for key in KEYS if key not in state]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)}: it was changed since torchprimer wrote it; "
                        "delete it or train again")
    damaged = _damage(path, state) or _malformed(state)
    if damaged:
        raise UserError(f"{path} is damaged ({damaged}): it was changed on disk since torchprimer wrote it; "
                        "put back a copy or train again")
    return state


def _malformed(state: dict[str, Any]) -> str | None:
    """What in a loadable checkpoint is not of the shape `fit` saves, or None. Such a file (edited and
    saved again) stopped --resume with a TypeError or KeyError after config.json was rewritten, or
    with history=[] quietly cut the run's metrics to one epoch."""
    epoch, history, best = state["epoch"], state["history"], state["best"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        return f"its epoch is {epoch!r}, not a count of epochs"
    if not isinstance(history, list) or len(history) != epoch or not all(
            isinstance(r, dict) and r.get("epoch") == i for i, r in enumerate(history, start=1)):
        return f"its history is not one record per epoch 1..{epoch}"
    if not isinstance(best, dict) or not isinstance(best.get("epoch"), int) or not isinstance(
            best.get("val_loss"), (int, float)):
        return "its best-so-far record has no epoch and validation loss"
    optimizer, rng = state["optimizer"], state["rng"]
    if not isinstance(optimizer, dict) or not isinstance(optimizer.get("state"), dict) or not isinstance(
            optimizer.get("param_groups"), list):
        return "its optimiser state has no state and param_groups"
    if not isinstance(rng, dict) or any(key not in rng for key in ("python", "numpy", "torch")):
        return "its random generator states are incomplete"
    if not isinstance(state["model"], dict) or not isinstance(state["config"], dict):
        return "its model or config is not a mapping"
    return None


def _torch_load(path: Path, *, mmap: bool = False) -> Any:
    """torch.load(weights_only=True) without its warnings: what is wrong with a file the caller says
    in one line, and torch's note on a foreign pickle's protocol landed above that line."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def _damage(path: Path, state: dict[str, Any]) -> str | None:
    """What shows a checkpoint's bytes changed after torchprimer wrote them, or None. torch.load does
    not check the archive's checksums, so flipped bytes would load and train on silently; and
    torchprimer never checkpoints a diverged epoch, so weights that are not finite were not its own."""
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
    if bad is not None:
        return f"the checksum of {bad!r} inside it does not match"
    model = state["model"] if isinstance(state["model"], dict) else {}
    for name, tensor in model.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return f"weight {name!r} holds NaN or infinite values"
    return None


def saved_epoch(path: Path) -> int:
    """The epoch of the checkpoint on disk at `path` (0 when there is none or it cannot be read): what
    an interrupted run can resume from, read without loading its tensors (mmap)."""
    try:
        state = _torch_load(path, mmap=True)
        return int(state["epoch"])
    except Exception:  # none yet, or unreadable: nothing to resume from
        return 0


def state_dict_mismatch(tensors: dict[str, torch.Tensor], model: torch.nn.Module) -> str | None:
    """How saved tensors fail to fit `model` (names first, then shapes), or None when they fit:
    loading them would otherwise fail deep inside torch, after files were written."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        return f"missing {missing[:3]}, unexpected {unexpected[:3]}"
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            wanted = tuple(expected[name].shape)
            return f"tensor {name!r} has shape {tuple(tensor.shape)} where the model needs {wanted}"
    return None


def settings_changed(state: dict[str, Any], cfg: dict[str, Any]) -> list[str]:
    """The options of `cfg` (sorted) that differ from those the checkpoint `state` trained with, leaving out
    those a resume may change (RESUME_MAY_CHANGE: the epochs, where the data is)."""
    saved = state["config"] if isinstance(state["config"], dict) else {}
    return [k for k in sorted(cfg) if k not in RESUME_MAY_CHANGE and saved.get(k) != cfg[k]]


def check_resumable(state: dict[str, Any], model: torch.nn.Module, cfg: dict[str, Any], path: Path) -> None:
    """Refuse, before anything is written, a checkpoint of another run: another configuration
    (only the number of epochs and where the data is may change) or weights that do not fit the model."""
    saved = state["config"] if isinstance(state["config"], dict) else {}
    differs = settings_changed(state, cfg)
    if differs:
        shown = ", ".join(f"{k} {saved.get(k)!r} vs {cfg[k]!r}" for k in differs[:3])
        raise UserError(f"{path} belongs to another run ({shown} in config.json); "
                        "put back this run's checkpoint or train again")
    problem = state_dict_mismatch(state["model"], model) if isinstance(state["model"], dict) else "no weights"
    if problem:
        raise UserError(f"{path} does not fit the model in config.json ({problem}); "
                        "was it copied from another run?")


def check_optimizer_state(state: dict[str, Any], optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Refuse, before anything is written, a checkpoint whose optimizer state this run's optimizer cannot
    take (edited, or another optimizer's): torch's ValueError named neither the file nor a way out, and it
    came after config.json had been rewritten. `optimizer` is a throwaway one, built on a copy of the model."""
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
        raise UserError(f"{path} holds an optimizer state this run's optimizer cannot take ({brief(exc)}); "
                        "put back this run's checkpoint or train again") from None
