"""Models by name, each built from the data's shape: neuron, linear, mlp, cnn.

To add a model, write a builder `(shape, classes, spec) -> nn.Module` and add one line to
`MODELS`. The training loop only needs the module and `objective_for(model)`.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from torchprimer.errors import UserError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "mish": nn.Mish,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "hardswish": nn.Hardswish,
    "hardtanh": nn.Hardtanh,
    "relu6": nn.ReLU6,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module by its torch.nn name in snake case."""
    check_activation(name)
    return ACTIVATIONS[name]()


def check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise UserError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}",
                        zh=f"未知的激活函数 {name!r}；已知的有：{', '.join(ACTIVATIONS)}")


@dataclass(frozen=True)
class ModelSpec:
    """The options that shape a model; stored in config.json so the run can be rebuilt."""

    name: str = "mlp"
    hidden: tuple[int, ...] = (128,)
    activation: str = "relu"
    dropout: float = 0.0
    batchnorm: bool = False


MAX_LAYERS, MAX_UNITS = 1_000, 1_000_000  # bounds far past any MLP here, short of shapes torch cannot index


def parse_hidden(text: str | int | Sequence[int]) -> tuple[int, ...]:
    """"256,128", [256, 128] or 256 -> (256, 128) or (256,). Rejects empty items, sizes that are
    not whole numbers (3.7 would be cut to 3 without a word) and non-positive sizes, in every form."""
    if isinstance(text, numbers.Integral) and not isinstance(text, bool):
        sizes = (int(text),)
    elif not isinstance(text, str):
        # a list or a tuple: a set's or a dict's order is not the layers', bytes are character codes, an
        # iterator would be used up before it is checked
        items = list(text) if isinstance(text, (list, tuple)) else [text]
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
            raise UserError(f"--hidden {text!r} must be whole numbers of units, as a number, a list or tuple, or a "
                            "string, e.g. [256, 128] or '256,128'",
                            zh=f"--hidden {text!r} 必须是整数个单元，写成一个数、一个列表或元组、或者一个字符串，"
                               "例如 [256, 128] 或 '256,128'")
        sizes = tuple(int(v) for v in items)
    else:
        items = [t.strip() for t in text.split(",")]
        if any(not t for t in items):
            raise UserError(f"--hidden {text!r} has an empty size; write sizes like 256,128",
                            zh=f"--hidden {text!r} 中有一个大小为空；请写成 256,128 这样的形式")
        try:
            sizes = tuple(int(t) for t in items)
        except ValueError:
            raise UserError(f"--hidden {text!r} is not a list of whole numbers like 256,128",
                            zh=f"--hidden {text!r} 不是像 256,128 这样的整数列表") from None
    if not sizes or any(s <= 0 for s in sizes):
        raise UserError(f"--hidden {text!r}: every layer needs at least 1 unit, e.g. 128 or 256,128",
                        zh=f"--hidden {text!r}：每一层至少需要 1 个单元，例如 128 或 256,128")
    if len(sizes) > MAX_LAYERS or max(sizes) > MAX_UNITS:
        raise UserError(f"--hidden {_short(text)}: at most {MAX_LAYERS:,} layers of at most {MAX_UNITS:,} units "
                        "each, e.g. 128 or 256,128",
                        zh=f"--hidden {_short(text)}：最多 {MAX_LAYERS:,} 层，每层最多 {MAX_UNITS:,} 个单元，"
                           "例如 128 或 256,128")
    return sizes


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Neuron(nn.Module):
    """The seed's §5.1 neuron: y = sigmoid(w·x + b), a probability for the second class."""

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(input_dim, 1)
        self.activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(x.flatten(1)))


def _features(shape: Sequence[int]) -> int:
    return math.prod(shape)


def build_neuron(shape: Sequence[int], num_classes: int, spec: ModelSpec) -> nn.Module:
    if num_classes != 2:
        raise UserError(
            f"model 'neuron' is a single sigmoid unit for two classes, but this data set has "
            f"{num_classes} classes; use --model linear or --model mlp",
            zh=f"模型 'neuron' 是只用于两个类别的单个 sigmoid 单元，但这个数据集有 {num_classes} 个类别；"
               "请用 --model linear 或 --model mlp",
        )
    return Neuron(_features(shape))


def build_linear(shape: Sequence[int], num_classes: int, spec: ModelSpec) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(_features(shape), num_classes))


def build_mlp(shape: Sequence[int], num_classes: int, spec: ModelSpec) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = _features(shape)
    for size in spec.hidden:
        layers.append(nn.Linear(width, size))
        if spec.batchnorm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(activation(spec.activation))
        if spec.dropout > 0:
            layers.append(nn.Dropout(spec.dropout))
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_cnn(shape: Sequence[int], num_classes: int, spec: ModelSpec) -> nn.Module:
    """Conv blocks (conv-BN-act twice, then pool) until the map is small, then a linear head.

    Works for images (C, H, W) and 1-D signals (C, L); the number of blocks grows with the
    input size (8x8 digits get 2, 28x28 and 32x32 images 3). A table's rows (F,) are read as
    one-channel signals of length F: the net starts by reshaping each batch to (N, 1, F).
    """
    layers: list[nn.Module] = []
    if len(shape) == 1:
        shape = (1, shape[0])
        layers.append(nn.Unflatten(1, shape))
    if len(shape) not in (2, 3):
        raise UserError(f"model 'cnn' needs images (C,H,W) or signals (C,L), got shape {tuple(shape)}; "
                        "use --model mlp or linear, which flatten any shape",
                        zh=f"模型 'cnn' 需要图像 (C,H,W) 或信号 (C,L)，得到的形状却是 {tuple(shape)}；"
                           "请用 --model mlp 或 linear，它们能把任何形状展平")
    conv, norm, pool = (
        (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
        if len(shape) == 3
        else (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
    )
    smallest = min(shape[1:])
    blocks = max(1, min(3, int(math.log2(max(smallest, 2) / 2))))
    channels = shape[0]
    for i in range(blocks):
        width = 32 * 2**i
        for _ in range(2):
            layers += [conv(channels, width, 3, padding=1, bias=False), norm(width)]
            layers.append(activation(spec.activation))
            channels = width
        layers.append(pool(2))
    pooling = nn.AdaptiveAvgPool2d(1) if len(shape) == 3 else nn.AdaptiveAvgPool1d(1)
    layers += [pooling, nn.Flatten()]
    if spec.dropout > 0:
        layers.append(nn.Dropout(spec.dropout))
    layers.append(nn.Linear(channels, num_classes))
    return nn.Sequential(*layers)


MODELS: dict[str, tuple[Callable[[Sequence[int], int, ModelSpec], nn.Module], str]] = {
    "neuron": (build_neuron, "the seed's single sigmoid neuron, two classes, binary cross-entropy"),
    "linear": (build_linear, "softmax regression: one linear layer"),
    "mlp": (build_mlp, "multi-layer perceptron on flattened inputs (--hidden, --activation)"),
    "cnn": (build_cnn, "small conv net for 1- or 3-channel images and 1-D signals"),
}


# The ModelSpec fields each model reads: any other given for it is refused (a cnn always has
# batch norm and fixed channels; the neuron and the linear model have no hidden layer).
READS: dict[str, tuple[str, ...]] = {
    "neuron": (), "linear": (), "cnn": ("activation", "dropout"),
    "mlp": ("hidden", "activation", "dropout", "batchnorm"),
}


def _checked_builder(spec: ModelSpec) -> Callable[[Sequence[int], int, ModelSpec], nn.Module]:
    if spec.name not in MODELS:
        raise UserError(f"unknown model {spec.name!r}; known models: {', '.join(MODELS)}",
                        zh=f"没有名为 {spec.name!r} 的模型；已知的模型：{', '.join(MODELS)}")
    check_activation(spec.activation)
    if not 0.0 <= spec.dropout < 1.0:
        raise UserError(f"--dropout {spec.dropout} must be in [0, 1), the share of units dropped; e.g. --dropout 0.2",
                        zh=f"--dropout {spec.dropout} 必须在 [0, 1) 内（丢弃的单元所占比例），例如 --dropout 0.2")
    return MODELS[spec.name][0]


def parameter_count(spec: ModelSpec, input_shape: Sequence[int], num_classes: int) -> int:
    """The model's parameter count without allocating it: built on torch's "meta" device, which
    records shapes only, so `models --hidden 30000,30000` counts 0.9e9 weights in no memory."""
    builder = _checked_builder(spec)
    with torch.device("meta"):
        return count_parameters(builder(input_shape, num_classes, spec))


def physical_memory() -> int | None:
    """This machine's physical memory, where the OS says (None elsewhere: no check)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


TRAINING_BYTES_PER_PARAMETER = 16  # float32 weights, gradients and Adam's two moments


# the bytes a parameter needs, what for, and the same in Chinese (a purpose that "需要 N GiB" follows)
TRAINING_PER_PARAMETER = (TRAINING_BYTES_PER_PARAMETER, "to train (weights, gradients, Adam's state)",
                          "训练（权重、梯度和 Adam 的状态）")
TOO_BIG_ADVICE = "use fewer or smaller hidden layers (e.g. --hidden 128)"  # train's and gradcheck's options
TOO_BIG_ADVICE_ZH = "请用更少或更小的隐藏层（例如 --hidden 128）"


def build_model(spec: ModelSpec, input_shape: Sequence[int], num_classes: int,
                too_big_advice: str = TOO_BIG_ADVICE, *,
                per_parameter: tuple[int, str, str] = TRAINING_PER_PARAMETER,
                too_big_advice_zh: str | None = None) -> nn.Module:
    """Build the named model for data of `input_shape` with `num_classes` classes. A model whose
    working state would not fit in this machine's memory is refused before any of it is
    allocated, with `too_big_advice`: what the calling command's own options can do about it.
    `per_parameter`: the bytes a parameter needs and what for, in English and Chinese; training's by
    default, gradcheck passes its own float64 copies'. The commands that speak Chinese pass their
    advice in Chinese too (`too_big_advice_zh`); where it is missing, the Chinese refusal quotes
    the English advice."""
    builder = _checked_builder(spec)
    count, memory = parameter_count(spec, input_shape, num_classes), physical_memory()
    need = per_parameter[0] * count
    if memory is not None and need > memory:
        _, what, what_zh = per_parameter
        if too_big_advice_zh is None:
            too_big_advice_zh = TOO_BIG_ADVICE_ZH if too_big_advice == TOO_BIG_ADVICE else too_big_advice
        raise UserError(f"this {spec.name} would have {count:,} parameters: {need / 2**30:,.1f} GiB "
                        f"{what}, more than this machine's {memory / 2**30:,.1f} GiB; {too_big_advice}",
                        zh=f"这个 {spec.name} 会有 {count:,} 个参数：{what_zh}需要 {need / 2**30:,.1f} GiB，"
                           f"超过了这台机器的 {memory / 2**30:,.1f} GiB；{too_big_advice_zh}")
    return builder(input_shape, num_classes, spec)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class Objective:
    """How a model's output turns into a loss, class probabilities and predicted labels."""

    binary: bool
    label_smoothing: float = 0.0

    def loss(self, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.binary:
            target = y.to(output.dtype).unsqueeze(1)
            if self.label_smoothing:
                target = target * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
            return nn.functional.binary_cross_entropy(output.float(), target.float())
        return nn.functional.cross_entropy(output, y, label_smoothing=self.label_smoothing)

    def probabilities(self, output: torch.Tensor) -> torch.Tensor:
        if self.binary:
            p = output.float()
            return torch.cat([1 - p, p], dim=1)
        return output.float().softmax(dim=1)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        if self.binary:
            return (output.squeeze(1) > 0.5).long()
        return output.argmax(dim=1)


def objective_for(model: nn.Module, label_smoothing: float = 0.0) -> Objective:
    return Objective(binary=isinstance(model, Neuron), label_smoothing=label_smoothing)


def model_table(
    dataset: str, *, hidden: str = "128", activation: str = "relu", image_size: int = 32,
) -> list[dict[str, object]]:
    """Every model built for `dataset`'s shape, with its parameter count (None where it does not apply).
    A set of fixed shape (MNIST, CIFAR-10, ...) is not loaded: its files may not be downloaded yet.
    `image_size`: the side imagefolder images are resized to, as `train --image-size`."""
    from torchprimer.data import LoadOptions, load
    from torchprimer.data.registry import parse_name

    source, path = parse_name(dataset)
    check_activation(activation)  # one line and exit 2, not a table of n/a rows
    if source.shape is not None and source.num_classes is not None and path is None:
        input_shape, classes = source.shape, source.num_classes
    else:
        data = load(dataset, LoadOptions(image_size=image_size))
        input_shape, classes = data.input_shape, data.num_classes
    rows: list[dict[str, object]] = []
    for name, (_, description) in MODELS.items():
        spec = ModelSpec(name=name, hidden=parse_hidden(hidden), activation=activation)
        row: dict[str, object] = {"model": name, "description": description, "input_shape": list(input_shape),
                                  "classes": classes, "parameters": None, "note": ""}
        try:
            row["parameters"] = parameter_count(spec, input_shape, classes)
        except UserError as exc:
            row["note"] = "n/a: " + str(exc).split(";")[0]
        rows.append(row)
    return rows
