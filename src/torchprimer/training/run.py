"""`train()`: the one call behind `torchprimer train` and the Python API.

It checks every option, loads the data and builds the model before it creates anything
on disk (bad input leaves no run folder), then trains with `fit` and writes the run
folder: config.json, metrics.csv/.jsonl, checkpoint.pt, model.safetensors, summary.json,
curves.png, confusion.png.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import hashlib
import importlib
import io
import itertools
import json
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from torchprimer import data as tpdata
from torchprimer import report
from torchprimer.data.splits import raw_range
from torchprimer.errors import TrainingInterrupted, UserError, resume_command
from torchprimer.fileio import (
    check_readable,
    check_replaceable,
    check_writable,
    folder_lock,
    interrupts_deferred,
    make_dirs,
    write_atomic,
    write_json,
    write_text,
)
from torchprimer.models import build_model, count_parameters, objective_for
from torchprimer.progress import Progress, check_mode, make_progress
from torchprimer.training import checkpoint as ckpt
from torchprimer.training import distributed
from torchprimer.training.config import RESUME_MAY_CHANGE, TrainConfig, as_stored, make_config, resolve_device
from torchprimer.training.loop import evaluate, fit, make_optimizer, patience_ran_out, predict_outputs

METRIC_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]


@dataclass
class TrainResult:
    """What a training run gives back: `.history`, `.test`, `.model`, `.run_dir`."""

    config: TrainConfig
    history: list[dict[str, float]]
    test: dict[str, float]
    model: nn.Module
    run_dir: Path | None
    best_epoch: int = 0
    stopped_early: bool = False
    train_seconds: float = 0.0
    data: tpdata.Splits | None = field(default=None, repr=False)
    weights_sha256: str | None = None  # of model.safetensors, once written (None when save=False)
    resumed_from: int | None = None  # with --resume: the epoch of the checkpoint it went on from
    removed: list[str] = field(default_factory=list)  # evaluate/export files of the weights --resume replaced

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (the training device): inputs must be moved there."""
        return next(self.model.parameters()).device

    @property
    def test_samples(self) -> int:
        return len(self.data.y_test) if self.data is not None else 0

    def summary(self) -> dict[str, Any]:
        """The figures summary.json holds and `train --json` prints, as plain JSON-ready values.

        `best_epoch` is the epoch of the lowest validation loss, and `best_val_loss` and
        `best_val_accuracy` are its figures; `weights_epoch` is the epoch whose weights were saved
        (and tested): the best one under --early-stopping, which puts them back, else the last.
        `final_val_accuracy` (the last epoch's) alone described a model that --early-stopping had
        discarded."""
        best = self.history[self.best_epoch - 1] if 0 < self.best_epoch <= len(self.history) else None
        return {
            "status": "finished",
            "dataset": self.config.dataset,
            "model": self.config.model,
            "epochs_run": len(self.history),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "test_loss": self.test["loss"],
            "test_accuracy": self.test["accuracy"],
            "test_samples": self.test_samples,
            "test_accuracy_ci95": list(wilson_interval(self.test["accuracy"], self.test_samples)),
            "final_val_accuracy": self.history[-1]["val_acc"] if self.history else None,
            "best_val_accuracy": best["val_acc"] if best else None,
            "best_val_loss": best["val_loss"] if best else None,
            "weights_epoch": self.best_epoch if self.config.early_stopping and best else len(self.history),
            "train_seconds": self.train_seconds,
            "epoch_seconds": [r["seconds"] for r in self.history],
            "parameters": count_parameters(self.model),
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "weights_sha256": self.weights_sha256,
        }


def wilson_interval(accuracy: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of an accuracy measured on n samples.

    A small test split measures accuracy coarsely (180 digits: one image is 0.56 points); the
    interval shows the learner how far two runs may differ by the luck of the split alone.
    """
    if n <= 0:
        return (0.0, 1.0)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


MAX_THREADS = 1024  # torch takes up to 2**31 - 1 but starts each one: a huge count hangs or dies far from the option


def check_threads(threads: int | None) -> None:
    """--threads (None: torch's own choice) must be a count torch can run, far past any core count."""
    if threads is not None and not (isinstance(threads, int) and not isinstance(threads, bool)
                                    and 1 <= threads <= MAX_THREADS):
        raise UserError(f"--threads {threads!r} must be a whole number from 1 to {MAX_THREADS} (this machine has "
                        f"{os.cpu_count()} CPUs; more threads than CPUs only wait for each other)")


def check_call_options(*, out: Any, resume: Any, save: Any, tensorboard: Any) -> None:
    """train()'s own arguments (not config options) of the wrong type are one UserError worded as
    make_config's type check words an option's, before anything is read or written: out=3 was a
    TypeError traceback from pathlib after the data had loaded, and save="no" meant True."""
    for name, value in (("out", out), ("resume", resume)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise UserError(f"option {name!r} is {value!r}, not a folder path (a string or pathlib.Path)")
        if value is not None and "\0" in os.fspath(value):  # pathlib's ValueError, after the data had loaded
            raise UserError(f"option {name!r} is {value!r}, which holds a NUL character that no path may hold")
    for name, value in (("save", save), ("tensorboard", tensorboard)):
        if not isinstance(value, bool):
            raise UserError(f"option {name!r} is {value!r}, not true or false")
    if out is not None and all((Path(out) / name).is_file() for name in ("config.json", "checkpoint.pt")):
        raise UserError(f"--out {out} is a run folder (it holds config.json and checkpoint.pt), and the new run "
                        f"would be made inside it; give the folder that holds runs, e.g. --out {Path(out).parent}, "
                        f"or go on with this one: {resume_command(out)}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(on: bool) -> None:
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # Switching it (even off when already off) imports torch._inductor: ~1 s per process.
    if on != torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.benchmark = not on


def load_splits(cfg: TrainConfig, device: torch.device) -> tpdata.Splits:
    """The configured data set, split and normalised on `device`."""
    options = tpdata.LoadOptions(
        data_dir=Path(cfg.data_dir) if cfg.data_dir else None, download=cfg.download,
        data_seed=cfg.data_seed, image_size=cfg.image_size, noise=cfg.noise, n_samples=cfg.n_samples,
    )
    dataset = tpdata.load(cfg.dataset, options)
    return tpdata.prepare(
        dataset, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction,
        split_seed=cfg.seed, device=device,
    )


def build(cfg: TrainConfig) -> tuple[torch.device, tpdata.Splits, nn.Module]:
    """Device, data and a freshly initialised model for `cfg`, seeded; no files touched."""
    device = resolve_device(cfg.device)
    set_deterministic(cfg.deterministic)
    seed_everything(cfg.seed)
    splits = load_splits(cfg, device)
    model = build_model(cfg.model_spec, splits.input_shape, splits.num_classes).to(device)
    return device, splits, model


def augmentation(cfg: TrainConfig, splits: tpdata.Splits) -> Any:
    """The batch augmentation --augment asks for, or None; refuses data it cannot help."""
    if not cfg.augment:
        return None
    from torchprimer.data.augment import make_augment

    augment = make_augment(splits)
    if augment is None:
        raise UserError(f"--augment works on images; {cfg.dataset!r} holds {splits.kind} data, so leave it out")
    return augment


def data_info(splits: tpdata.Splits) -> dict[str, Any]:
    """What predict/evaluate need to treat new inputs exactly like the training data."""
    return {
        "name": splits.name, "classes": splits.classes, "input_shape": list(splits.input_shape),
        "kind": splits.kind, "mean": splits.mean.tolist(), "std": splits.std.tolist(),
        "range": raw_range(splits.x_train, splits.mean, splits.std), "sizes": splits.sizes(),
        "fingerprint": splits.fingerprint,
    }


@contextlib.contextmanager
def data_moved(cfg: TrainConfig, run_dir: Path, fix: str) -> Iterator[None]:
    """Reword a loader's refusal to read a run's data_dir (missing, a file, files gone) as config.json's
    folder, with `fix`: the loader's advice (pass --data-dir, add --download) is for an option typed now,
    while evaluate or --resume read the folder from config.json, usually because the data moved."""
    try:
        yield
    except UserError as exc:
        if not cfg.data_dir:
            raise
        what = str(exc).split("; ")[0].removeprefix(f"--data-dir {cfg.data_dir} ")
        raise UserError(f"{run_dir}/config.json reads {cfg.dataset} from data_dir {cfg.data_dir} ({what}); "
                        f"put the data back there, or {fix}") from None


def resume_data_moved(
    cfg: TrainConfig, resume_dir: Path | None, options: dict[str, Any]
) -> contextlib.AbstractContextManager[None]:
    """`data_moved` for `train --resume` reading the folder config.json names (no --data-dir typed)."""
    if resume_dir is None or options.get("data_dir") is not None:
        return contextlib.nullcontext()
    return data_moved(cfg, resume_dir, "pass --data-dir with the folder that holds it now")


def check_same_data(splits: tpdata.Splits, data: dict[str, Any], dataset: str, run_dir: Path) -> None:
    """Refuse data that no longer gives the splits a run was trained on (config.json's "data"
    block): evaluating or resuming on other files would silently mean something else."""
    differences = []
    if [str(c) for c in splits.classes] != [str(c) for c in data["classes"]]:
        differences.append(f"classes {splits.classes} vs {data['classes']}")
    if list(splits.input_shape) != [int(d) for d in data["input_shape"]]:
        differences.append(f"input shape {list(splits.input_shape)} vs {data['input_shape']}")
    if "sizes" in data and splits.sizes() != data["sizes"]:
        differences.append(f"sizes {splits.sizes()} vs {data['sizes']}")
    if not differences and "fingerprint" in data and splits.fingerprint != data["fingerprint"]:
        differences.append(f"the validation or test samples, or labels, differ: fingerprint {splits.fingerprint} "
                           f"vs {data['fingerprint']}")
    now, then = splits.mean.tolist() + splits.std.tolist(), list(data["mean"]) + list(data["std"])
    if len(now) != len(then) or not all(math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)
                                        for a, b in zip(now, then, strict=True)):
        differences.append(f"mean and std {_rounded(now)} vs {_rounded(then)}")
    if differences:
        raise UserError(f"data set {dataset!r} no longer gives the splits {run_dir} was trained on "
                        f"({differences[0]}, now vs then); use the same data files as training")


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 4) for v in values]


def new_run_dir(out: str | Path, cfg: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(out) / f"{stamp}-{tpdata.file_slug(cfg.dataset)}-{cfg.model}"
    make_dirs(out, "--out")  # a file named like --out is one line and exit 2, as for every output path
    for n in itertools.count(1):
        run_dir = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            run_dir.mkdir()  # taken as it is made: two runs started in the same second get -2, -3, ...
            return run_dir
        except FileExistsError:
            continue
        except OSError as exc:  # e.g. a folder this user cannot write in
            raise UserError(f"cannot make the run folder {run_dir}: {exc.strerror or exc}; "
                            "give --out a folder you can write in") from None
    raise AssertionError("unreachable")


def metrics_csv(history: list[dict[str, float]]) -> str:
    """One row per epoch; timings are left out so that equal seeds give equal files."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(METRIC_COLUMNS)
    for r in history:
        writer.writerow([int(r["epoch"])] + [repr(float(r[c])) for c in METRIC_COLUMNS[1:]])
    return buf.getvalue()


def write_config(run_dir: Path, cfg: TrainConfig, splits: tpdata.Splits, device: torch.device | str,
                 *, processes: int = 1, **extra: Any) -> None:
    """config.json: everything `evaluate`, `predict` and `--resume` need to rebuild the run."""
    write_json(run_dir / "config.json", {
        "config": cfg.to_dict(), "data": data_info(splits), "device": str(device),
        "processes": processes, "torch": torch.__version__, "torchprimer": _version(), **extra,
    })


def write_metrics(run_dir: Path, history: list[dict[str, float]]) -> None:
    """metrics.csv (one row per epoch, no timings) and metrics.jsonl (every field)."""
    write_text(run_dir / "metrics.csv", metrics_csv(history))
    write_text(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))


def weight_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as safetensors wants it: on the CPU, contiguous, no shared storage."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


# What a run's weights mean, beyond their names and shapes: the model around them and how its inputs
# are prepared. model.safetensors keeps it in its metadata, so that a config.json edited since
# training (tanh for relu, another mean) is refused instead of evaluating another model.
TRAINED_WITH = ("model", "hidden", "activation", "dropout", "batchnorm")
TRAINED_ON = ("classes", "input_shape", "mean", "std")


def trained_with(cfg: TrainConfig, data: dict[str, Any]) -> dict[str, Any]:
    """The model options of `cfg` and the input description of config.json's "data" block, as
    JSON gives them back (so values read from either file compare equal)."""
    described = {k: getattr(cfg, k) for k in TRAINED_WITH} | {k: data[k] for k in TRAINED_ON}
    return json.loads(json.dumps(described))


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str]) -> str:
    """model.safetensors, byte for byte the same for the same weights: safetensors writes its metadata
    in a hash map's order, which changes from process to process, so the header is rewritten with its
    keys sorted (the same JSON, the same length; the tensors' offsets do not depend on the order).
    Returns the file's SHA-256, which summary.json keeps so that a weights file copied in from
    another run of the same shapes is refused, not evaluated as this run's."""
    from safetensors.torch import save

    data = save(weight_tensors(model), metadata=metadata)
    size = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8 : 8 + size]), sort_keys=True, separators=(",", ":")).encode()
    canonical = data[:8] + header.ljust(size) + data[8 + size :]  # padded with spaces, as safetensors pads
    write_atomic(path, lambda tmp: tmp.write_bytes(canonical))
    return hashlib.sha256(canonical).hexdigest()


def read_run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a torchprimer run folder (no config.json); pass a folder under runs/")
    check_readable(path, "run configuration")
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        options = stored["config"]
        # Options added in later versions fall back to their defaults; these every run has written, and
        # without them a moons run was read as digits and refused as "data set 'digits' no longer gives ..."
        missing = [key for key in ("dataset", "model") if isinstance(options, dict) and key not in options]
        if not missing:
            return {"config": TrainConfig.from_dict(options), "data": stored["data"], "raw": stored}
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a valid torchprimer config ({exc}); pass a run folder") from None
    raise UserError(f"{path} has no {missing[0]!r} in its \"config\" block, which every run writes; the file "
                    "was changed since torchprimer train wrote it: restore it, or train again")


def _resume_config(run_dir: Path, cfg: TrainConfig, options: dict[str, Any]) -> TrainConfig:
    """The run's config (from its config.json), with only --epochs, --data-dir and --download changed by
    `options`. Each option is checked as a new run's are: epochs="abc" was a ValueError, and epochs=4.5
    or True quietly an int."""
    unknown = set(options) - set(cfg.to_dict())
    if unknown:
        raise UserError(f"unknown training option(s) {sorted(unknown)}; see 'torchprimer train --help'")
    changed = [
        k for k, v in options.items()
        if v is not None and k not in RESUME_MAY_CHANGE and getattr(cfg, k, None) != as_stored(k, v)
    ]
    if changed:
        raise UserError(
            f"--resume continues {run_dir} with its own config; only --epochs (and where the data is: "
            f"--data-dir, --download) may change, not {', '.join(sorted(changed))}"
        )
    moved = {k: options[k] for k in sorted(RESUME_MAY_CHANGE) if options.get(k) is not None}
    if moved:  # checked as a new run's options are, then only these three taken
        checked = make_config(**{**cfg.to_dict(), **moved})
        cfg = dataclasses.replace(cfg, **{k: getattr(checked, k) for k in moved})
    return cfg


def resume_plan(run_dir: Path, options: dict[str, Any]) -> tuple[dict[str, Any], TrainConfig, dict[str, Any]]:
    """(config.json read, the config to go on with, the checkpoint loaded) for `--resume run_dir`, or a
    UserError; nothing is written. `train --nproc` calls it before starting the processes, so a bad
    --resume is one error line, not one per process."""
    from torchprimer.runfolder import _check_data_info  # runfolder imports this module

    stored = read_run_config(run_dir)
    stored["data"] = _check_data_info(stored["data"], run_dir)  # an edited block was a KeyError traceback
    cfg = _resume_config(run_dir, stored["config"], options)
    state = ckpt.load(_checkpoint_to_resume(run_dir))
    _check_config_unedited(run_dir, state, cfg)
    if state["epoch"] > cfg.epochs:
        raise UserError(f"{run_dir} already ran {state['epoch']} epochs; ask for more with --epochs "
                        f"{state['epoch'] + 1} or more")
    best_epoch = state["best"]["epoch"]  # ckpt.load has checked it is an int
    epochs_changed = cfg.epochs != stored["raw"]["config"].get("epochs")
    if epochs_changed and patience_ran_out(cfg, state["epoch"], best_epoch):
        # fit trains no further after an early stop (a resumed run ends as the unstopped one did), so
        # more --epochs did nothing, said nothing, and config.json recorded epochs that never ran
        raise UserError(f"{run_dir} stopped early at epoch {state['epoch']} (--early-stopping "
                        f"{cfg.early_stopping}: no better validation loss since epoch {best_epoch}); --resume "
                        "cannot train it further: start a new run, with a larger --early-stopping or none")
    return stored, cfg, state


def _check_config_unedited(run_dir: Path, state: dict[str, Any], cfg: TrainConfig) -> None:
    """Refuse a config.json whose settings (other than epochs) differ from those its checkpoint trained
    with, naming which file changed where that can be told. Either config.json was edited (its "lr",
    say) or checkpoint.pt was copied in from another run; both were called "a checkpoint of another
    run", which sent a learner who had edited config.json to look for a checkpoint that was fine.
    The checkpoint's history holds every epoch's timings, which no other run repeats: where
    metrics.jsonl (written from the same records) agrees with it, the checkpoint is this run's, so
    config.json is what changed. Checked before the processes of --nproc start: one line."""
    saved = state["config"] if isinstance(state["config"], dict) else {}
    now = cfg.to_dict()
    differs = ckpt.settings_changed(state, now)
    if not differs:
        return
    ours = _history_agrees(run_dir, state["history"])
    if ours is False:
        return  # a checkpoint of another run: check_resumable says so, as it always has
    shown = ", ".join(f"{k} {now[k]!r} there, {saved.get(k)!r} in checkpoint.pt" for k in differs[:3])
    back = ", ".join(f"{k} {saved.get(k)!r}" for k in differs[:3])
    why = ("was edited since the run trained" if ours else
           "does not match checkpoint.pt (config.json was edited, or the checkpoint copied from another run)")
    raise UserError(f"{run_dir / 'config.json'} {why} ({shown}); --resume goes on with the settings a run "
                    f"trained with, so put back {back} in config.json, or train a new run with the new settings")


def _metrics_records(run_dir: Path) -> list[Any] | None:
    """metrics.jsonl's epoch records, or None where there is none to read."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()] or None
    except (OSError, ValueError):
        return None


def _history_agrees(run_dir: Path, history: Any) -> bool | None:
    """Whether metrics.jsonl holds the same epoch records (timings included) as a checkpoint's history,
    as far as both go; None where there is nothing to compare (no readable metrics.jsonl). The timings
    are this run's alone, so agreement says that both files were written by this run."""
    records = _metrics_records(run_dir)
    if records is None or not isinstance(history, list):
        return None
    shared = min(len(records), len(history))
    return records[:shared] == history[:shared]


def summary_is_this_runs(run_dir: Path, summary: dict[str, Any]) -> bool | None:
    """Whether summary.json's epoch times are the ones metrics.jsonl recorded, as `_history_agrees`
    tells a checkpoint's; None where there is nothing to compare."""
    records, seconds = _metrics_records(run_dir), summary.get("epoch_seconds")
    if records is None or not isinstance(seconds, list) or not seconds:
        return None
    shared = min(len(records), len(seconds))
    return [r.get("seconds") if isinstance(r, dict) else None for r in records[:shared]] == seconds[:shared]


def _checkpoint_to_resume(run_dir: Path) -> Path:
    """The run's checkpoint.pt, or a UserError that says why there is none (summary.json tells)."""
    path = run_dir / "checkpoint.pt"
    if not path.is_file():
        status = read_summary(run_dir).get("status")
        if status in ("interrupted", "failed"):
            raise UserError(f"{run_dir} {status} before its first checkpoint, so there is nothing to resume; "
                            "train it again without --resume")
        if status is None:
            raise UserError(f"{run_dir} has no checkpoint.pt: it stopped before its first epoch ended, so there "
                            "is nothing to resume; train it again without --resume")
        if read_run_config(run_dir)["raw"].get("source") == "torchprimer ui":
            raise UserError(f"{run_dir} was saved by the playground, which keeps no checkpoint to resume from; "
                            "train it again without --resume (its config.json holds the settings), or keep "
                            "training it in the playground")
        if status == "finished":  # its checkpoint deleted since: it was asked "is this a torchprimer run folder?"
            raise UserError(f"{run_dir} finished, but its checkpoint.pt has been deleted, so it cannot train on "
                            "(its model.safetensors still serves evaluate and predict); train again without "
                            "--resume, with the --epochs you want")
    return path


def read_summary(run_dir: Path) -> dict[str, Any]:
    """summary.json as a dict (its "status": finished, interrupted or failed); {} where there is none."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


@contextlib.contextmanager
def float32_default() -> Iterator[None]:
    """torch's default dtype float32 for the block, then the caller's again: the data are float32, and a
    caller's torch.set_default_dtype(torch.float64) made the models float64 and the first step fail in
    torch ("mat1 and mat2 must have the same dtype")."""
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


@contextlib.contextmanager
def caller_state_kept() -> Iterator[None]:
    """Give the caller back what a run sets for itself: the random generators it seeds, torch's
    determinism flags and its thread count. Without this a search loop drawing its own random
    hyperparameters (random.uniform, np.random) was reseeded by every trial and drew the same
    values, and a user's torch.use_deterministic_algorithms(True) was switched off. The CUDA
    generator is restored only where CUDA was in use already (reading it would start CUDA). The
    default dtype is float32 inside (float32_default)."""
    rng = ckpt.rng_state(cuda=False)
    cuda_rng = torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None
    threads = torch.get_num_threads()
    cudnn = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    determinism = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        with float32_default():
            yield
    finally:
        ckpt.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng)
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = cudnn
        if determinism != (torch.are_deterministic_algorithms_enabled(),
                           torch.is_deterministic_algorithms_warn_only_enabled()):
            torch.use_deterministic_algorithms(determinism[0], warn_only=determinism[1])
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas


def train(
    *,
    out: str | Path | None = None,
    progress: str | Progress | None = "auto",
    resume: str | Path | None = None,
    save: bool = True,
    tensorboard: bool = False,
    threads: int | None = None,
    **options: Any,
) -> TrainResult:
    """Train a model and write its run folder under `out` (default runs/); returns a TrainResult.

    `options` are the fields of `TrainConfig` (torchprimer.training.config), the Python names of
    `torchprimer train`'s options: dataset, model, hidden (128, [256, 128] or "256,128"),
    activation, epochs, batch_size, lr, optimizer, schedule, seed, device, ... Each is checked
    (type and range) before anything is written; a bad one raises UserError. None stands for an
    option's default; NumPy scalars are taken as the numbers they hold.

    `progress` is "auto" (a bar on a terminal, lines otherwise), "bar", "lines", "none" (or None),
    or a Progress object. `save=False` trains in memory only. `resume` continues a run folder in
    place (only `epochs` may change). `threads` sets torch's CPU threads for this call only: it
    does not change the results' meaning, so it is not part of the config. Without it, a small
    MLP on the CPU trains on one thread (`auto_threads`), anything else on torch's.

    The run seeds Python's, NumPy's and torch's generators and may set torch's determinism flags;
    the caller's are put back when it returns. The model comes back in eval mode, ready for
    inference on inputs normalised as training's were: `torchprimer.data.normalize(x,
    result.data.mean, result.data.std)` with x in the data set's raw scale.

    >>> result = train(dataset="digits", epochs=10)      # doctest: +SKIP
    >>> result.test["accuracy"], result.run_dir           # doctest: +SKIP
    """
    check_call_options(out=out, resume=resume, save=save, tensorboard=tensorboard)
    check_threads(threads)
    if progress is None or progress is False:
        progress = "none"
    if isinstance(progress, str):
        check_mode(progress)  # before the run folder, which a bad value would leave half-written
    elif not all(callable(getattr(progress, name, None)) for name in ("start", "step", "epoch", "close")):
        raise UserError(f"progress={progress!r} is neither a mode ('auto', 'bar', 'lines', 'none') nor an object "
                        "with start, step, epoch and close methods; e.g. progress='none' prints nothing")
    if resume is not None and (out is not None or not save):
        given = "--out" if out is not None else "save=False"
        raise UserError(f"--resume continues {resume} in its own folder; leave out {given}")
    if not save and (out is not None or tensorboard):  # both write into the run folder save=False leaves out
        raise UserError(f"save=False writes no run folder, so {'out=' if out is not None else 'tensorboard='} "
                        "would do nothing; leave it out, or save the run")
    with caller_state_kept():
        if threads is not None:
            torch.set_num_threads(threads)
        return _train(out=out if out is not None else "runs", progress=progress, resume=resume, save=save,
                      tensorboard=tensorboard, choose_threads=threads is None, **options)


def _options_doc() -> str:
    """Every TrainConfig field with its default, for train's docstring: generated, so `help(train)`
    lists all of them and cannot fall behind the config."""
    import dataclasses
    import textwrap

    listing = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(TrainConfig))
    return ("    Every option in `options`, with its default (`torchprimer train --help` says what each does):\n\n"
            + textwrap.fill(listing, width=100, initial_indent="    ", subsequent_indent="    ",
                            break_on_hyphens=False) + "\n\n")


_examples_at = (train.__doc__ or "").index("    >>> ")
train.__doc__ = (train.__doc__ or "")[:_examples_at] + _options_doc() + (train.__doc__ or "")[_examples_at:]


# Models of linear layers with fewer parameters than this train faster on one CPU thread than on
# two. Measured with `train` on a 2-core CPU, epoch seconds (min of 3) at 1 vs 2 threads: digits
# MLP (9.6k parameters) batch 64 0.0055 vs 0.0062, batch 256 0.0027 vs 0.0028; mnist1d MLP (6.5k)
# batch 64 0.0138 vs 0.0148; the MNIST MLP (102k) batch 16 1.45 vs 1.16, batch 32 0.83 vs 0.83,
# batch 64 0.70 vs 0.61, batch 512 0.43 vs 0.30. The batch size did not move the crossover.
ONE_THREAD_BELOW = 25_000


def auto_threads(model: nn.Module, device: torch.device) -> int | None:
    """1 for a small model of linear layers (and element-wise ones) on the CPU, where splitting
    each small operation over threads costs more than it saves (and a busy machine's other work
    stalls every split); None (keep torch's count) otherwise, convolutions included, whose work
    the parameter count does not measure."""
    if device.type != "cpu":
        return None
    layers_with_params = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    if not all(isinstance(m, (nn.Linear, nn.BatchNorm1d)) for m in layers_with_params):
        return None
    return 1 if count_parameters(model) < ONE_THREAD_BELOW else None


def _train(**options: Any) -> TrainResult:
    with contextlib.ExitStack() as held:  # the run folder's lock, from when the folder is known to the end
        return _train_holding(held, **options)


def _busy(run_dir: Path) -> str:
    return (f"{run_dir} is being trained by another process now (two at once would overwrite each other's "
            f"checkpoints); wait until it ends, then {resume_command(run_dir)}")


def _train_holding(
    held: contextlib.ExitStack,
    *, out: str | Path, progress: str | Progress, resume: str | Path | None, save: bool, tensorboard: bool,
    choose_threads: bool, **options: Any,
) -> TrainResult:
    resume_dir = Path(resume) if resume is not None else None
    resume_state = None
    if resume_dir is not None:
        stored, cfg, resume_state = resume_plan(resume_dir, options)
    else:
        cfg = make_config(**options)
    distributed.setup(cfg)  # joins the process group when torchrun started several processes
    if cfg.cuda_graph and distributed.world_size() > 1:
        raise UserError("--cuda-graph records one process's step; leave it out with --nproc or torchrun")
    # one download per machine, not per process
    with resume_data_moved(cfg, resume_dir, options), distributed.local_rank_zero_first(cfg.download):
        device, splits, model = build(cfg)
    distributed.check_batch_size(len(splits.y_train), cfg.batch_size)
    if cfg.batchnorm:
        distributed.check_batchnorm_batches(len(splits.y_train), cfg.batch_size)
    if resume_dir is not None and resume_state is not None:  # checked before config.json is rewritten
        check_same_data(splits, stored["data"], cfg.dataset, resume_dir)
        ckpt.check_resumable(resume_state, model, cfg.to_dict(), resume_dir / "checkpoint.pt")
        # on a copy: Adam over flat buffers makes the parameters views of its own buffer
        ckpt.check_optimizer_state(resume_state, make_optimizer(copy.deepcopy(model), cfg),
                                   resume_dir / "checkpoint.pt")
    chosen = auto_threads(model, device) if choose_threads else None
    if chosen is not None:
        torch.set_num_threads(chosen)  # train() puts the count back when it returns
    objective = objective_for(model, cfg.label_smoothing)
    trained = model
    if cfg.compile and device.type == "cuda":
        trained = torch.compile(model)

    augment = augmentation(cfg, splits)  # refuses a bad --augment before anything is written
    # A run that logged to TensorBoard goes on logging when resumed, even without --tensorboard: its
    # curves stopped at the resume, with no word of why.
    logged_before = resume_dir is not None and (resume_dir / "tensorboard").is_dir()
    board = tensorboard_writer_class() if tensorboard or logged_before else None
    # The first optimiser a process builds makes torch import its compiler (~2 s on a 2-core CPU,
    # more than training digits takes): start-up, not training, so it happens before the clock
    # starts, and before the run folder is made (Ctrl-C in it leaves no empty run folder).
    importlib.import_module("torch._dynamo")
    if not distributed.is_main():  # under DDP rank 0 alone writes the run folder and prints progress
        run_dir, progress = None, "none"
    else:
        run_dir = resume_dir if resume_dir is not None else (new_run_dir(out, cfg) if save else None)
        if run_dir is not None:  # before anything is written in it; under DDP rank 0 alone writes and locks
            held.enter_context(folder_lock(run_dir, _busy(run_dir)))
        if resume_dir is not None:
            check_resume_writable(resume_dir, logs=board is not None)
    if run_dir is not None:
        write_config(run_dir, cfg, splits, device, processes=distributed.world_size())
    # A finished run continued with more --epochs keeps its summary (it describes the model.safetensors
    # still there) until the longer run finishes: a failed or interrupted continuation must not erase it.
    keep_summary = resume_dir is not None and read_summary(resume_dir).get("status") == "finished"
    if run_dir is not None and resume_state is not None:
        for stale in run_dir.glob(".*.tmp"):  # temporary files of writes that a SIGKILL cut short
            stale.unlink(missing_ok=True)
        # The checkpoint is the record: a run stopped between its checkpoint and its metrics write has a
        # metrics.csv one epoch short, which no later epoch would rewrite when none is left to train.
        write_metrics(run_dir, resume_state["history"])
    reporter = make_progress(progress) if isinstance(progress, str) else progress

    writer = board(str(run_dir / "tensorboard")) if board is not None and run_dir is not None else None
    if writer is not None and resume_state is not None and not logged_before:
        for record in resume_state["history"]:  # --tensorboard first given on --resume: the epochs before it
            _log_epoch(writer, record)

    def on_epoch(record: dict[str, float]) -> None:
        if run_dir is not None:
            write_metrics(run_dir, result.history)
        if writer is not None:
            _log_epoch(writer, record)

    result = TrainResult(config=cfg, history=[], test={}, model=model, run_dir=run_dir, data=splits,
                         resumed_from=None if resume_state is None else resume_state["epoch"])
    started = time.perf_counter()
    try:
        fitted = fit(
            trained, splits, cfg, objective, reporter,
            checkpoint_path=run_dir / "checkpoint.pt" if run_dir else None,
            resume_from=resume_state, on_epoch=on_epoch, augment=augment,
            history_out=result.history,
        )
        # A resumed run's earlier epochs were trained by another process: their recorded times count
        # too, so train_seconds covers the same epochs as epochs_run and epoch_seconds.
        earlier = sum(r["seconds"] for r in resume_state["history"]) if resume_state is not None else 0.0
        result.train_seconds = earlier + time.perf_counter() - started
        result.best_epoch, result.stopped_early = fitted.best_epoch, fitted.stopped_early
        result.test = evaluate(model, splits.x_test, splits.y_test, objective, amp=cfg.amp)
        if run_dir is not None:  # inside the try: Ctrl-C while writing these gets the same advice (--resume)
            write_outputs(result, objective)
    except BaseException as exc:
        reporter.close()
        # What can be resumed is the checkpoint on disk, which may be an epoch behind the history
        # when the stop came while it was being written.
        saved = ckpt.saved_epoch(run_dir / "checkpoint.pt") if run_dir is not None else len(result.history)
        if run_dir is not None and not keep_summary:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            write_json(run_dir / "summary.json", {"status": status, "error": str(exc), "epochs_done": saved})
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, TrainingInterrupted):
            raise TrainingInterrupted(run_dir, saved) from exc
        raise
    finally:
        if writer is not None:
            writer.close()
    model.eval()  # ready for inference, as load_run's model is: no dropout, batch norm's running statistics
    return result


def check_resume_writable(run_dir: Path, *, logs: bool) -> None:
    """Refuse a resume that could not write its run folder, before it writes anything there: a folder
    another user trained, a file in it that may not be replaced, or a TensorBoard folder that takes no
    new files. Found only at the first write, config.json had already been rewritten for epochs that
    were never trained, which a later plain --resume then went on to train."""
    from torchprimer.runfolder import MADE_FROM_WEIGHTS, RUN_FILES  # runfolder imports this module

    advice = "copy the run folder somewhere you can write and resume the copy"
    advice_zh = "请把运行文件夹复制到你能写入的地方，再继续训练那份副本"
    check_writable(run_dir / "config.json", [run_dir], advice, advice_zh)
    for name in (*RUN_FILES, *MADE_FROM_WEIGHTS):
        check_replaceable(run_dir / name, advice, advice_zh)
    board = run_dir / "tensorboard"
    if logs and board.is_dir():
        check_writable(board, [board], advice, advice_zh)


def write_outputs(result: TrainResult, objective: Any) -> None:
    """The finished run's files: weights, summary, curves, confusion matrix."""
    run_dir, splits = result.run_dir, result.data
    assert run_dir is not None and splits is not None
    previous_sha256 = read_summary(run_dir).get("weights_sha256")  # of the weights a --resume replaces
    with interrupts_deferred():  # a stop between the two left new weights beside the old run's summary
        result.weights_sha256 = save_weights(
            result.model, run_dir / "model.safetensors",
            {"format": "torchprimer", "model": result.config.model, "dataset": result.config.dataset,
             "trained_with": json.dumps(trained_with(result.config, data_info(splits)), sort_keys=True)})
        write_json(run_dir / "summary.json", result.summary())
    if result.weights_sha256 != previous_sha256:  # a --resume that trained nothing leaves the same weights
        from torchprimer.runfolder import stale_files_removed  # runfolder imports this module

        result.removed = stale_files_removed(run_dir)
    report.plot_curves(result.history, run_dir / "curves.png",
                       title=f"{result.config.dataset} · {result.config.model}")
    predicted = objective.predict(predict_outputs(result.model, splits.x_test, amp=result.config.amp))
    matrix = report.confusion_matrix(splits.y_test, predicted, splits.num_classes)
    report.plot_confusion(matrix, splits.classes, run_dir / "confusion.png",
                          title=f"test confusion · accuracy {result.test['accuracy']:.4f}")


def _log_epoch(writer: Any, record: dict[str, float]) -> None:
    """One epoch's figures into TensorBoard, at the epoch's number, flushed so a live board shows them."""
    for key in METRIC_COLUMNS[1:]:
        writer.add_scalar(key, record[key], int(record["epoch"]))
    writer.flush()


def tensorboard_writer_class() -> Any:
    """torch's SummaryWriter, or a clear error when the optional extra is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("--tensorboard needs the tensorboard package: pip install 'torchprimer[tensorboard]'") from None
    return SummaryWriter


def _version() -> str:
    from torchprimer import __version__

    return __version__
