"""Every option of a training run in one place, checked before anything is written.

`TrainConfig` is what `config.json` holds: with it a run can be rebuilt and resumed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from torchprimer.data.registry import absolute_name, check_data_options, ships_test_split
from torchprimer.data.splits import check_fractions
from torchprimer.errors import UserError, refuse_unused
from torchprimer.models import READS as MODEL_READS
from torchprimer.models import ModelSpec, parse_hidden

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "onecycle")
BACKWARDS = ("autograd", "manual")
SEED_MAX = 2**63 - 1  # torch.manual_seed takes at most 64 bits; the CLI's seed options have the same bound
# Options that say where the data is found, not what is trained: `--resume` may change them (data moved
# to another folder), since the run checks that the data read there gives the splits it trained on.
# `epochs` may change too, as the run's length.
RESUME_MAY_CHANGE = frozenset({"epochs", "data_dir", "download"})


@dataclass
class TrainConfig:
    """The seed's §6.2 recipe is the default: MLP 128 ReLU, Adam 1e-3, 10 epochs, batch 64."""

    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] = (128,)
    activation: str = "relu"
    dropout: float = 0.0
    batchnorm: bool = False
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "none"
    warmup: float = 0.0  # share of all steps spent warming up the learning rate
    clip: float | None = None  # max gradient norm
    label_smoothing: float = 0.0
    early_stopping: int = 0  # patience in epochs; 0 = off
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    amp: bool = False
    compile: bool = False
    cuda_graph: bool | None = None  # replay the step as a CUDA graph; None: on CUDA wherever it applies
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    augment: bool = False
    data_dir: str | None = None
    download: bool = False
    data_seed: int | None = None
    image_size: int = 32
    noise: float | None = None
    n_samples: int | None = None
    backward: str = "autograd"  # "manual": explicit chain-rule formulas of torchprimer.autodiff (MLPs only)

    @property
    def model_spec(self) -> ModelSpec:
        return ModelSpec(
            name=self.model,
            hidden=tuple(self.hidden),
            activation=self.activation,
            dropout=self.dropout,
            batchnorm=self.batchnorm,
        )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"config has unknown options {sorted(unknown)}; was it written by a newer torchprimer? "
                            "Upgrade torchprimer to read it",
                            zh=f"配置中有未知的选项 {sorted(unknown)}；它是不是由更新版本的 torchprimer 写的？"
                               "请升级 torchprimer 再读取它")
        cfg = cls(**d)
        _check_types(cfg)
        cfg.hidden = parse_hidden(cfg.hidden)  # sizes in range, as `--hidden` is checked
        check_values(cfg)  # an edited config.json: one clear error, not a traceback deep in torch
        return cfg

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# What each annotation of TrainConfig accepts from a JSON file, and how to say it (in English, in Chinese).
_JSON_TYPES: dict[str, tuple[Callable[[Any], bool], str, str]] = {
    "bool": (lambda v: isinstance(v, bool), "true or false", "布尔值（true 或 false）"),
    "int": (_is_whole, "a whole number", "整数"),
    "float": (lambda v: _is_whole(v) or isinstance(v, float), "a number", "数字"),
    "str": (lambda v: isinstance(v, str), "a string", "字符串"),
    "tuple[int, ...]": (lambda v: isinstance(v, (list, tuple)) and all(map(_is_whole, v)), "a list of whole numbers",
                        "整数列表"),
}


def _check_types(cfg: TrainConfig) -> None:
    """Every option read from a file has the type its annotation names (None where it allows
    None), so a hand-edited config.json is one clear error, not a TypeError deep inside."""
    for field in dataclasses.fields(cfg):
        value, annotation = getattr(cfg, field.name), str(field.type)
        optional = annotation.endswith(" | None")
        if value is None and optional:
            continue
        accepts, want, want_zh = _JSON_TYPES[annotation.removesuffix(" | None")]
        if not accepts(value):
            raise UserError(f"option {field.name!r} is {value!r}, not {want}",
                            zh=f"选项 {field.name!r} 的值是 {value!r}，而它应为{want_zh}")


def plain_value(value: Any) -> Any:
    """A NumPy scalar (np.int64 from rng.choice, np.float32), a 0-d tensor or a 1-D array as the Python
    value it holds: a hyperparameter search draws its values with NumPy, and np.float32(0.01) was
    refused as "not a number" while np.float64, a float subclass, passed."""
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        return value.item()
    if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 1:
        return value.tolist()
    return value


def make_config(**options: Any) -> TrainConfig:
    """Build and validate a config from keyword options; None means "use the default"."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(options) - fields
    if unknown:
        raise UserError(f"unknown training option(s) {sorted(unknown)}; see 'torchprimer train --help'",
                        zh=f"未知的训练选项 {sorted(unknown)}；请看 'torchprimer train --help'")
    options = {name: plain_value(value) for name, value in options.items()}
    if options.get("device") is not None:  # a torch.device or a CUDA index, as load_run takes them
        options["device"] = device_name(options["device"])
    cfg = TrainConfig(**{k: v for k, v in options.items() if v is not None})
    for name in NORMALISED:
        value = getattr(cfg, name)
        if value is not None:
            setattr(cfg, name, as_stored(name, value))
    _check_types(cfg)  # from Python any value gets here: batchnorm="no" would have meant True
    validate(cfg)
    refuse_unused_options(cfg, asked_for(options))
    return cfg


def asked_for(options: dict[str, Any]) -> set[str]:
    """The options that ask for something: given, and not the default. A default passed back (a
    run's config.json into `train(**config)`, download=False, momentum=0.9 under Adam) asks for
    nothing, so it cannot be an option that would do nothing."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    return {name for name, value in options.items()
            if value is not None and as_stored(name, value) != defaults.get(name)}


def refuse_unused_options(cfg: TrainConfig, given: set[str]) -> None:
    """Options asked for (`asked_for`: given, not the default) that this run would ignore are an
    error, not a silent no-op: SGD's momentum under Adam, --hidden for a cnn, --noise for digits,
    --test-fraction for a set that ships its own test split. Each refusal carries its Chinese too, so the
    commands that speak Chinese (compare, activations --train) print it in their language."""
    def flags(names: Iterable[str]) -> list[str]:
        return ["--" + name.replace("_", "-") for name in names if name in given]

    if cfg.optimizer != "sgd":
        refuse_unused(flags(["momentum"]), f"with --optimizer {cfg.optimizer}: it is SGD's (Adam keeps its own "
                                           "moving averages, set by its betas)",
                      f"在使用 --optimizer {cfg.optimizer} 时不起作用：它是 SGD 的选项（Adam 有自己的滑动平均，"
                      "由它的 betas 设定）")
    if cfg.model in MODEL_READS:
        unread = [name for name in MODEL_READS["mlp"] if name not in MODEL_READS[cfg.model]]  # mlp reads them all
        refuse_unused(flags(unread), f"for --model {cfg.model}"
                      + (" (its conv blocks are fixed and always batch-normalised)" if cfg.model == "cnn" else
                         " (it has no hidden layer)"),
                      f"对 --model {cfg.model} 不起作用"
                      + ("（它的卷积块是固定的，并且总是做批归一化）" if cfg.model == "cnn" else "（它没有隐藏层）"))
    if "cuda_graph" in given and cfg.cuda_graph is False and "device" in given \
            and resolve_device(cfg.device).type != "cuda":  # with --device auto it keeps a script portable
        refuse_unused(["--no-cuda-graph"], f"with --device {cfg.device}: CUDA graphs are recorded on CUDA only",
                      f"在使用 --device {cfg.device} 时不起作用：CUDA 图只在 CUDA 上录制")
    if "warmup" in given and cfg.warmup == 0 and cfg.schedule == "onecycle":  # 0 means "onecycle's own 30%"
        refuse_unused(["--warmup 0"], "with --schedule onecycle, which then warms up over its own 30% of the "
                      "steps (for no warm-up use --schedule cosine)",
                      "在使用 --schedule onecycle 时不起作用，因为它此时会用自己的 30% 步数来预热"
                      "（不要预热请用 --schedule cosine）")
    check_data_options(cfg.dataset, given)
    if "test_fraction" in given and ships_test_split(cfg.dataset):
        refuse_unused(flags(["test_fraction"]), f"for {cfg.dataset}, which has its own test split "
                      "(--val-fraction sets how much of its training part validates)",
                      f"对 {cfg.dataset} 不起作用，因为它自带测试集"
                      "（--val-fraction 决定从它的训练部分中拿出多少作为验证集）")


NORMALISED = ("hidden", "dataset", "data_dir")  # the options `as_stored` rewrites


def as_stored(option: str, value: Any) -> Any:
    """An option's value as config.json keeps it: hidden sizes as a tuple of ints, and data paths
    absolute, so that evaluate, predict and --resume work from any folder. `--resume` compares the
    options given again with the run's in this form."""
    if option == "hidden":
        return parse_hidden(value)
    if option == "dataset" and isinstance(value, str):
        return absolute_name(value)
    if option == "data_dir" and isinstance(value, (str, os.PathLike)):
        return os.path.abspath(os.path.expanduser(value))
    return value  # a value of the wrong type: make_config's type check names it


def _positive(name: str, value: float, hint: str, hint_zh: str) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        kind, kind_zh = (("a finite number", "是有限的数") if isinstance(value, float) and not math.isfinite(value)
                         else ("greater than 0", "大于 0"))
        raise UserError(f"--{name} {value} must be {kind}; {hint}", zh=f"--{name} {value} 必须{kind_zh}；{hint_zh}")


def validate(cfg: TrainConfig) -> None:
    """Raise UserError naming the first bad option and what to use instead."""
    check_values(cfg)
    check_device_options(cfg)


def check_values(cfg: TrainConfig) -> None:
    """The checks that hold on any machine: each value in its range and the combinations that
    make sense. A run's config.json gets these when it is read again (from_dict), so an edited
    one is one clear error; not the device's, as a run trained on a GPU is evaluated anywhere."""
    if not 0 <= cfg.seed <= SEED_MAX:
        raise UserError(f"--seed {cfg.seed} must be from 0 to 2**63 - 1 (torch's generators take 64 bits)",
                        zh=f"--seed {cfg.seed} 必须在 0 到 2**63 - 1 之间（torch 的随机数生成器只接受 64 位）")
    _positive("epochs", cfg.epochs, "try --epochs 10", "可以试试 --epochs 10")
    _positive("batch-size", cfg.batch_size, "try --batch-size 64", "可以试试 --batch-size 64")
    _positive("lr", cfg.lr, "try --lr 0.001", "可以试试 --lr 0.001")
    if cfg.optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {cfg.optimizer!r}; use one of {', '.join(OPTIMIZERS)}",
                        zh=f"未知的优化器 {cfg.optimizer!r}；请使用以下之一：{', '.join(OPTIMIZERS)}")
    if cfg.schedule not in SCHEDULES:
        raise UserError(f"unknown schedule {cfg.schedule!r}; use one of {', '.join(SCHEDULES)}",
                        zh=f"未知的学习率调度 {cfg.schedule!r}；请使用以下之一：{', '.join(SCHEDULES)}")
    if not 0 <= cfg.warmup < 1:
        raise UserError(f"--warmup {cfg.warmup} is a share of all steps: use a value in [0, 1)",
                        zh=f"--warmup {cfg.warmup} 是占全部步数的比例：请用 [0, 1) 内的值")
    if cfg.weight_decay < 0 or not math.isfinite(cfg.weight_decay):
        raise UserError(f"--weight-decay {cfg.weight_decay} must be a finite number, 0 or more; "
                        "e.g. --weight-decay 1e-4",
                        zh=f"--weight-decay {cfg.weight_decay} 必须是大于或等于 0 的有限数，例如 --weight-decay 1e-4")
    if not 0 <= cfg.momentum < 1:
        raise UserError(f"--momentum {cfg.momentum} must be in [0, 1); e.g. --momentum 0.9",
                        zh=f"--momentum {cfg.momentum} 必须在 [0, 1) 内，例如 --momentum 0.9")
    if cfg.clip is not None:
        _positive("clip", cfg.clip, "try --clip 1.0", "可以试试 --clip 1.0")
    if not 0 <= cfg.label_smoothing < 1:
        raise UserError(f"--label-smoothing {cfg.label_smoothing} must be in [0, 1); e.g. --label-smoothing 0.1",
                        zh=f"--label-smoothing {cfg.label_smoothing} 必须在 [0, 1) 内，例如 --label-smoothing 0.1")
    if cfg.early_stopping < 0:
        raise UserError("--early-stopping N needs N >= 1 epochs (0 turns it off)",
                        zh="--early-stopping N 需要 N >= 1 轮（0 表示关闭）")
    check_fractions(cfg.val_fraction, cfg.test_fraction)
    if cfg.backward not in BACKWARDS:
        raise UserError(f"unknown --backward {cfg.backward!r}; use one of {', '.join(BACKWARDS)}",
                        zh=f"未知的 --backward {cfg.backward!r}；请使用以下之一：{', '.join(BACKWARDS)}")
    if cfg.backward == "manual" and (cfg.model not in ("mlp", "linear") or cfg.dropout or cfg.batchnorm or cfg.amp):
        raise UserError(
            "--backward manual has formulas for Flatten, Linear and activation layers only: use --model mlp "
            "or linear without --dropout, --batchnorm or --amp, or keep --backward autograd",
            zh="--backward manual 只有 Flatten、Linear 和激活层的公式：请用不带 --dropout、--batchnorm 或 --amp 的 "
               "--model mlp 或 linear，或者保留 --backward autograd",
        )
    if cfg.nesterov and not (cfg.optimizer == "sgd" and cfg.momentum > 0):
        # --momentum is named where it is the reason (SGD's set to 0), not under Adam, which has no --momentum
        why, why_zh, fix = ((f"--optimizer sgd with --momentum {cfg.momentum:g}",
                             f"--momentum {cfg.momentum:g} 时的 --optimizer sgd", "--momentum 0.9")
                            if cfg.optimizer == "sgd" else
                            (f"--optimizer {cfg.optimizer}", f"--optimizer {cfg.optimizer}",
                             "--optimizer sgd --momentum 0.9"))
        raise UserError(f"--nesterov is a kind of SGD momentum, which {why} does not use; leave --nesterov out, "
                        f"or use {fix}",
                        zh=f"--nesterov 是 SGD 动量的一种，而 {why_zh} 不使用动量；请去掉 --nesterov，或者改用 {fix}")


def check_device_options(cfg: TrainConfig) -> None:
    """The options that need a CUDA device here: checked where a run starts, not where one is read."""
    if cfg.cuda_graph:  # asked for explicitly
        if cfg.compile or cfg.backward == "manual":
            raise UserError("--cuda-graph records the autograd step as it is; leave out --compile, --backward manual",
                            zh="--cuda-graph 按原样录制 autograd 的训练步；请去掉 --compile 和 --backward manual")
        if resolve_device(cfg.device).type != "cuda":
            raise UserError("--cuda-graph replays the training step on a CUDA GPU; use --device cuda on a machine "
                            "with one, or leave --cuda-graph out",
                            zh="--cuda-graph 在 CUDA GPU 上重放训练步；请在有 CUDA GPU 的机器上使用 --device cuda，"
                               "或者去掉 --cuda-graph")
    for flag, on in (("--amp", cfg.amp), ("--compile", cfg.compile)):
        if on and resolve_device(cfg.device).type != "cuda":  # both would be silently ignored elsewhere
            raise UserError(f"{flag} is used on a CUDA GPU only, and this run's device is "
                            f"{resolve_device(cfg.device).type}; leave {flag} out, or use --device cuda on a "
                            "machine with one",
                            zh=f"{flag} 只在 CUDA GPU 上使用，而这次运行的设备是 {resolve_device(cfg.device).type}；"
                               f"请去掉 {flag}，或者在有 CUDA GPU 的机器上使用 --device cuda")


def device_name(device: object) -> str:
    """A device as torch's functions take it (a torch.device, a CUDA index, a name) by its name, so that
    resolve_device checks it: a torch.device("cuda") on a machine without one reached torch unchecked."""
    if isinstance(device, torch.device):
        return str(device)
    if isinstance(device, int) and not isinstance(device, bool):
        return f"cuda:{device}"
    if not isinstance(device, str):
        raise UserError(f"device {device!r} is not a device; use auto, cpu, cuda, cuda:N or mps",
                        zh=f"{device!r} 不是设备；请用 auto、cpu、cuda、cuda:N 或 mps")
    return device


def resolve_device(name: str) -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an unavailable device is a clear error."""
    name = name.strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps",
                        zh=f"未知的设备 {name!r}；请用 auto、cpu、cuda、cuda:N 或 mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                "--device cuda was asked for, but torch sees no CUDA device here; "
                "use --device cpu (or auto), and run 'torchprimer doctor' to see why",
                zh="指定了 --device cuda，但 torch 在这里看不到 CUDA 设备；请用 --device cpu（或 auto），"
                   "并运行 'torchprimer doctor' 查看原因",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here",
                            zh=f"--device {name}：这里只有 {torch.cuda.device_count()} 个 CUDA 设备")
    elif device.type == "mps" and not mps_ok:
        raise UserError("--device mps was asked for, but Apple's MPS is not available here; use --device cpu",
                        zh="指定了 --device mps，但这里没有可用的 Apple MPS；请用 --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps",
                        zh=f"不支持的设备 {name!r}；请用 auto、cpu、cuda、cuda:N 或 mps")
    return device
