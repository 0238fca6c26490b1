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
accept it (so do the activations, Dropout and LayerNorm), but some layers do not: BatchNorm
needs a batch to take its statistics over, and Conv1d wants at least (channels, length).
So the tour passes x.unsqueeze(0).
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
LayerNorm 也能），但有些层不行：BatchNorm 需要一批数据来计算统计量，Conv1d 至少要
（通道数，长度）两维。所以导览传入 x.unsqueeze(0)。torchprimer 的 Neuron 就是这个模块
（`torchprimer train --model neuron`）。""",
        "fixed_title": "同一个神经元，手工验算：",
    },
}

SETUP = """\
import torch
from torch import nn
"""

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
    }
