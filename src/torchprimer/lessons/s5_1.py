"""§5.1 The neuron: y = f(Σ wᵢxᵢ + b). The seed's module is checked against the formula
computed by hand in float64, and against torchprimer's own Neuron (the model `--model neuron`
trains)."""

from __future__ import annotations

import math

import torch

from torchprimer.lessons.runner import Run, bilingual
from torchprimer.models import Neuron

SECTION = "5.1"

TEXT = {
    "en": {
        "title": "The neuron's mathematical model",
        "intro": """
A neuron computes y = f(Σ wᵢxᵢ + b): a weighted sum of its inputs, plus a bias that lets it
shift, passed through an activation f. With f = sigmoid the output is between 0 and 1 and
reads as a probability. (The seed's formula image is lost; this is its text.)""",
        "verdict": """
The seed's neuron is right, and the checks prove it: its output equals sigmoid(w·x + b)
worked out by hand from its own weights. One habit to pick up: PyTorch layers expect a
batch, shape (N, 3). The seed passes a single vector of shape (3,); nn.Linear happens to
accept it (so do the activations, Dropout and LayerNorm), but some layers do not: Conv1d
wants at least (channels, length), and BatchNorm1d wants a batch dimension. So the tour
passes x.unsqueeze(0), a batch of one, shape (1, 3). That is not enough for BatchNorm1d while
training: it takes each feature's mean and variance over the batch, and a batch of one sample
of shape (1, 3) gives each feature a single value, which has no variance, so it wants more than
one value per feature (in eval mode it uses its running statistics and takes one).
The seed also never imports nn, here or in any earlier section, so its code alone stops
at the first line with NameError; the tour adds `from torch import nn` before it.
torchprimer's Neuron is this same module (`torchprimer train --model neuron`).""",
        "fixed_title": "The same neuron, checked by hand:",
    },
    "zh": {
        "title": "神经元的数学模型",
        "intro": """
神经元计算 y = f(Σ wᵢxᵢ + b)：输入的加权和，加上提供平移能力的偏置，再经过激活函数 f。
取 f = sigmoid 时，输出在 0 和 1 之间，可以看作概率。（原教程的公式图片已丢失，这里是
它的文字说明。）""",
        "verdict": """
原教程的神经元是对的，检查也证明了这一点：它的输出等于用它自己的权重手算的
sigmoid(w·x + b)。有一个习惯值得养成：PyTorch 的层接受的是一批数据，形状为 (N, 3)。
原教程传入的是形状为 (3,) 的单个向量；nn.Linear 碰巧能接受（激活函数、Dropout 和
LayerNorm 也能），但有些层不行：Conv1d 至少要（通道数，长度）两维，BatchNorm1d 需要
批次这一维。所以导览传入 x.unsqueeze(0)，即一批一个样本，形状 (1, 3)。但这对训练中的
BatchNorm1d 还不够：它在整批上计算每个特征的均值和方差，形状为 (1, 3) 的一个样本只给每个特征
一个值，一个值没有方差，所以每个特征需要不止一个值（在评估模式下它用累计的统计量，一个样本
也可以）。原教程也从未导入 nn（这里和前面各节都没有），所以单独运行它的代码会在第一行就因
NameError 停止；导览在它前面补上了 `from torch import nn`。torchprimer 的 Neuron 就是这个模块
（`torchprimer train --model neuron`）。""",
        "fixed_title": "同一个神经元，手工验算：",
    },
}

SETUP = bilingual(
    """\
import torch
# the seed never imports nn, here or in any earlier section
from torch import nn
""",
    zh={"the seed never imports nn, here or in any earlier section": "原教程从未导入 nn，这里和前面各节都没有"},
)

SEED = """\
class Neuron(nn.Module):
    def __init__(self, input_dim):
        super().__init__()
        self.linear = nn.Linear(input_dim, 1)
        self.activation = nn.Sigmoid()
    def forward(self, x):
        return self.activation(self.linear(x))
neuron = Neuron(3)
output = neuron(torch.tensor([0.5, -1.2, 0.8]))
"""

FIXED = bilingual(
    """\
import math
from torchprimer.models import Neuron  # the seed's neuron, as torchprimer trains it
neuron = Neuron(3)
x = torch.tensor([0.5, -1.2, 0.8])
output = neuron(x.unsqueeze(0))  # a batch of one: (1, 3) -> (1, 1)
w = neuron.linear.weight[0].tolist()
b = neuron.linear.bias.item()
z = sum(wi * xi for wi, xi in zip(w, x.tolist())) + b
print("w =", [round(v, 4) for v in w], " b =", round(b, 4))
print("z = w·x + b =", round(z, 6))
print("1 / (1 + exp(-z)) =", 1 / (1 + math.exp(-z)))
print("neuron(x) =", output.item())
""",
    zh={
        "the seed's neuron, as torchprimer trains it": "原教程的神经元，torchprimer 训练用的就是它",
        "a batch of one: (1, 3) -> (1, 1)": "一批一个样本：(1, 3) -> (1, 1)",
    },
)

CHECKS = {
    "by_hand": {
        "en": "the seed's output equals sigmoid(w·x + b) computed by hand in float64 (1e-6)",
        "zh": "原教程的输出等于用 float64 手算的 sigmoid(w·x + b)（误差 1e-6）",
    },
    "probability": {
        "en": "the output is one number strictly between 0 and 1",
        "zh": "输出是一个严格介于 0 和 1 之间的数",
    },
    "bias_shifts": {
        "en": "with every input 0 the output is sigmoid(b): the bias alone sets where the neuron sits",
        "zh": "输入全为 0 时输出为 sigmoid(b)：偏置单独决定了神经元的位置",
    },
    "torchprimer_neuron": {
        "en": "torchprimer's Neuron with the seed's weights gives the seed's output",
        "zh": "把原教程的权重装进 torchprimer 的 Neuron，输出与原教程相同",
    },
    "one_vector": {
        "en": "Linear, Sigmoid, Dropout and LayerNorm take the seed's single vector of shape (3,); "
              "BatchNorm1d and Conv1d refuse it, and Conv1d takes (channels, length)",
        "zh": "Linear、Sigmoid、Dropout 和 LayerNorm 接受原教程那个形状为 (3,) 的单个向量；"
              "BatchNorm1d 和 Conv1d 拒绝它，而 Conv1d 接受（通道数，长度）",
    },
    "missing_nn": {
        "en": "with only the import the seed makes (import torch, §2.2), its code stops with NameError: 'nn'",
        "zh": "只有原教程做过的导入（import torch，§2.2）时，它的代码因 NameError 停止：'nn'",
    },
    "batchnorm_batch": {
        "en": "BatchNorm1d while training refuses a batch of one, shape (1, 3), and takes two; "
              "in eval mode it takes one",
        "zh": "训练中的 BatchNorm1d 拒绝一批一个样本（形状 (1, 3)），接受两个；在评估模式下接受一个",
    },
}

TAKE_ONE_VECTOR = ("Linear", "Sigmoid", "Dropout", "LayerNorm")  # what the verdict says accepts shape (3,)
NEED_MORE = ("BatchNorm1d", "Conv1d")  # what it says does not


def one_vector_errors(x: torch.Tensor) -> tuple[dict[str, str | None], tuple[int, ...]]:
    """Each layer the verdict names, given the single vector `x` of shape (3,): None where it takes it,
    else the name of the error it raises; and the shape Conv1d gives `x` as (channels, length). The
    layers' random initialisation leaves the caller's random state as it was."""
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        layers = {"Linear": nn.Linear(3, 1), "Sigmoid": nn.Sigmoid(), "Dropout": nn.Dropout(),
                  "LayerNorm": nn.LayerNorm(3), "BatchNorm1d": nn.BatchNorm1d(3), "Conv1d": nn.Conv1d(3, 1, 1)}
        errors: dict[str, str | None] = {}
        for name, layer in layers.items():
            try:
                layer(x)
                errors[name] = None
            except (RuntimeError, ValueError) as exc:
                errors[name] = type(exc).__name__
        conv_shape = tuple(layers["Conv1d"](x.unsqueeze(1)).shape)
    return errors, conv_shape


def batchnorm_batches(x: torch.Tensor) -> tuple[str | None, tuple[int, ...], tuple[int, ...]]:
    """BatchNorm1d(3) in training mode on `x` as a batch of one (None where it takes it, else its error's
    name), the shape it gives a batch of two, and the shape it gives a batch of one in eval mode."""
    from torch import nn

    norm = nn.BatchNorm1d(3)
    try:
        norm(x.unsqueeze(0))
        one: str | None = None
    except ValueError as exc:  # "Expected more than 1 value per channel when training"
        one = type(exc).__name__
    two = tuple(norm(torch.stack([x, -x])).shape)
    return one, two, tuple(norm.eval()(x.unsqueeze(0)).shape)


def without_nn() -> str:
    """The seed's code run with only `import torch` before it: the error it stops with, as "Type: message"."""
    try:
        with torch.random.fork_rng(devices=[]):
            exec(compile(SEED, "<§5.1 seed alone>", "exec"), {"torch": torch})
    except Exception as exc:  # whatever it raises is the answer
        return f"{type(exc).__name__}: {exc}"
    return "no error"


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert seed is not None and fixed is not None
    neuron, output = seed.namespace["neuron"], seed.namespace["output"]
    x = [0.5, -1.2, 0.8]
    w = neuron.linear.weight.detach()[0].double().tolist()
    b = neuron.linear.bias.detach().double().item()
    z = sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b
    by_hand = _sigmoid(z)
    got = output.detach().double()
    with torch.no_grad():
        at_zero = neuron(torch.zeros(3)).item()
        ours = Neuron(3)
        ours.load_state_dict(neuron.state_dict())
        ours_out = ours(torch.tensor([x])).item()
        refused, conv_shape = one_vector_errors(torch.tensor(x))
        bn_one, bn_two, bn_eval = batchnorm_batches(torch.tensor(x))
    alone = without_nn()
    took = [n for n in TAKE_ONE_VECTOR if refused[n] is None]
    errors = [f"{n} ({refused[n]})" for n in NEED_MORE if refused[n] is not None]
    errors_zh = [f"{n}（{refused[n]}）" for n in NEED_MORE if refused[n] is not None]
    return {
        "by_hand": (abs(got.item() - by_hand) < 1e-6, f"neuron(x) = {got.item():.8f}, σ({z:.6f}) = {by_hand:.8f}"),
        "probability": (
            tuple(got.shape) == (1,) and 0.0 < got.item() < 1.0,
            {
                "en": f"shape {tuple(got.shape)}, value {got.item():.6f}",
                "zh": f"形状 {tuple(got.shape)}，取值 {got.item():.6f}",
            },
        ),
        "bias_shifts": (
            abs(at_zero - _sigmoid(b)) < 1e-6, f"neuron(0) = {at_zero:.6f}, σ(b = {b:.6f}) = {_sigmoid(b):.6f}"
        ),
        "torchprimer_neuron": (abs(ours_out - got.item()) < 1e-7, f"{ours_out:.8f} = {got.item():.8f}"),
        "one_vector": (len(took) == len(TAKE_ONE_VECTOR) and len(errors) == len(NEED_MORE) and conv_shape == (1, 1), {
            "en": f"take (3,): {', '.join(took)};  refuse it: {', '.join(errors)};  "
                  f"Conv1d on (3, 1) gives {conv_shape}",
            "zh": f"接受 (3,)：{'、'.join(took)}；拒绝：{'，'.join(errors_zh)}；Conv1d 作用于 (3, 1) 得到 {conv_shape}",
        }),
        "missing_nn": (alone == "NameError: name 'nn' is not defined", alone),
        "batchnorm_batch": (bn_one is not None and bn_two == (2, 3) and bn_eval == (1, 3), {
            "en": f"training, (1, 3): {bn_one or 'taken'};  training, (2, 3) -> {bn_two};  eval, (1, 3) -> {bn_eval}",
            "zh": f"训练中 (1, 3)：{bn_one or '接受'}；训练中 (2, 3) -> {bn_two}；评估模式 (1, 3) -> {bn_eval}",
        }),
    }
