"""§6.2 The training loop: the seed's loop, given the `train_loader` it never defines
(MNIST-shaped 28×28 digits from torchprimer's registry), runs and learns; its printed loss is
the last batch's, so the tour sets the epoch mean beside it, from the corrected loop and from
torchprimer's own `fit`, and measures the test accuracy the seed never looks at."""

from __future__ import annotations

import itertools
from typing import Any

import torch

from torchprimer.lessons.runner import Run, bilingual
from torchprimer.report import display_width, pad

SECTION = "6.2"
EPOCHS = 10

TEXT = {
    "en": {
        "title": "A typical training loop",
        "intro": """
Training repeats four steps per batch: forward pass, loss, backward pass (gradients), and an
optimiser step. The seed's loop is the standard one for MNIST: 784 inputs (28×28 pixels), a
hidden layer of 128 ReLU units, 10 classes, Adam with learning rate 0.001, 10 epochs.""",
        "verdict": """
Given a real train_loader the seed's loop runs and learns. But the number it prints is the
loss of the epoch's last batch only (here a batch smaller than the others), so it jumps
around while the epoch mean falls smoothly; the columns below show both. The loop also never
measures the model on data it did not train on, never switches to eval mode, and saves
nothing. `torchprimer train` runs this same recipe with all of that: epoch means,
validation every epoch, a test score, and a run folder you can resume from. Its figures
below differ from the seed's loop although it starts from the very same initial weights
(both are drawn right after torch.manual_seed(0)): it draws its batches in another order, and
that alone moves every figure. It is not a better recipe: the two test accuracies are
measured on the same few test samples, one sample is worth several tenths of a point, and
each 95% interval (printed beside it) spans several points, so a gap of a sample or two
says nothing about which is better.""",
        "fixed_title": "Corrected: the epoch mean beside the last batch, and a test score:",
    },
    "zh": {
        "title": "典型训练循环",
        "intro": """
训练就是对每一批数据重复四步：前向计算、求损失、反向传播（求梯度）、优化器更新。原教程的
循环是 MNIST 的标准写法：784 个输入（28×28 像素），128 个 ReLU 单元的隐藏层，10 个类别，
Adam 优化器，学习率 0.001，训练 10 轮。""",
        "verdict": """
给它一个真实的 train_loader，原教程的循环就能运行并学到东西。但它打印的只是每轮最后一批
的损失（这里最后一批比其他批小），所以数值上下跳动，而整轮的平均损失是平稳下降的；下面
两列并排给出。这个循环也从不在没训练过的数据上评估模型，从不切换到 eval 模式，也什么都
不保存。`torchprimer train` 用的是同一套配方，并补齐了这些：整轮平均损失、每轮验证、
测试集成绩，以及可以断点续训的运行目录。下面它的数字与原教程的循环不同，尽管它从完全相同
的初始权重出发（两者都在 torch.manual_seed(0) 之后立即抽取）：它以另一种顺序抽取批次，仅此
一点就改变了每一个数字。这并不是更好的配方：两个测试准确率是在同样为数不多的
测试样本上测得的，一个样本就值零点几个百分点，每个 95% 区间（附在旁边）都跨好几个百分点，
所以相差一两个样本并不能说明谁更好。""",
        "fixed_title": "修正：最后一批与整轮平均并列，再加测试集成绩：",
    },
}

SETUP = bilingual(
    """\
import torch
from torch import nn
from torchprimer.lessons.s6_2 import mnist_shaped_loaders
# the seed never defines train_loader: torchprimer's digits, resized to MNIST's 28x28
train_loader, test_loader = mnist_shaped_loaders(batch_size=64)
""",
    zh={
        "the seed never defines train_loader: torchprimer's digits, resized to MNIST's 28x28":
            "原教程从未定义 train_loader：用 torchprimer 的 digits 数据，放大到 MNIST 的 28x28",
    },
)

SEED = """\
model = nn.Sequential(
    nn.Linear(784, 128),
    nn.ReLU(),
    nn.Linear(128, 10)
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
for epoch in range(10):
    for inputs, labels in train_loader:
        optimizer.zero_grad()
        outputs = model(inputs.view(-1, 784))
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
    print(f'Epoch {epoch+1}, Loss: {loss.item():.4f}')
"""

FIXED = bilingual(
    """\
model = nn.Sequential(
    nn.Linear(784, 128),
    nn.ReLU(),
    nn.Linear(128, 10)
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
last_batch, epoch_mean = [], []
for epoch in range(10):
    model.train()
    total, count = 0.0, 0
    for inputs, labels in train_loader:
        optimizer.zero_grad()
        outputs = model(inputs.view(-1, 784))
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)  # weighted by batch size: the last batch is smaller
        count += len(labels)
    last_batch.append(loss.item())
    epoch_mean.append(total / count)
    print(f'Epoch {epoch+1}, last batch {loss.item():.4f}, epoch mean {total / count:.4f}')
# the test split, in eval mode, without gradients: what the seed never measures
model.eval()
correct = 0
with torch.no_grad():
    for inputs, labels in test_loader:
        correct += (model(inputs.view(-1, 784)).argmax(1) == labels).sum().item()
test_accuracy = correct / len(test_loader.dataset)
print(f'test accuracy {test_accuracy:.4f}')
""",
    zh={
        "weighted by batch size: the last batch is smaller": "按批大小加权：最后一批比较小",
        "the test split, in eval mode, without gradients: what the seed never measures":
            "测试集，eval 模式，不求梯度：原教程从来不测的东西",
    },
)

CHECKS = {
    "seed_runs": {
        "en": "given a real train_loader, the seed's loop runs all 10 epochs",
        "zh": "有了真实的 train_loader，原教程的循环能跑完全部 10 轮",
    },
    "same_run": {
        "en": "the corrected loop is the same run: its last-batch losses are the seed's prints, digit for digit",
        "zh": "修正后的循环是同一次训练：它的最后一批损失与原教程的输出逐位相同",
    },
    "last_batch_not_mean": {
        "en": "the seed's print is not the epoch's loss: it differs from the epoch mean every epoch",
        "zh": "原教程打印的不是整轮损失：每一轮都与整轮平均不同",
    },
    "last_batch_jumps": {
        "en": "the last batch is smaller than the others, and its loss rises in some epochs "
              "while the epoch mean falls every epoch",
        "zh": "最后一批比其他批小，它的损失有几轮不降反升，而整轮平均每一轮都在下降",
    },
    "torchprimer_fit": {
        "en": "torchprimer's fit, same recipe, split and initial weights: the epoch-mean loss falls every epoch",
        "zh": "torchprimer 的 fit，同样的配方、数据划分和初始权重：整轮平均损失每轮都在下降",
    },
    "test_accuracy": {
        "en": "the seed's trained model, measured on the test split it never saw, is at least 90% right",
        "zh": "原教程训练出的模型，在它从未见过的测试集上准确率至少 90%",
    },
}


def mnist_shaped_splits(split_seed: int = 0) -> Any:
    """torchprimer's digits resized from 8×8 to MNIST's 28×28, split and standardised.

    The seed's 784-input model needs MNIST-shaped images; this is real handwriting that is
    bundled with scikit-learn, so the lesson needs no download.
    """
    import torch.nn.functional as F

    from torchprimer import data as tpdata

    digits = tpdata.load("digits")
    big = F.interpolate(digits.x.float(), size=(28, 28), mode="bilinear", align_corners=False)
    dataset = tpdata.Dataset(
        name="digits-28x28", x=big, y=digits.y, classes=digits.classes,
        source=digits.source + ", resized to 28x28", kind="image",
    )
    return tpdata.prepare(dataset, val_fraction=0.1, test_fraction=0.1, split_seed=split_seed)


def mnist_shaped_loaders(batch_size: int = 64) -> tuple[torch.utils.data.DataLoader, torch.utils.data.DataLoader]:
    """The train_loader the seed assumes (shuffled, batches of `batch_size`) and a test loader."""
    from torch.utils.data import DataLoader, TensorDataset

    splits = mnist_shaped_splits()
    train = TensorDataset(splits.x_train, splits.y_train)
    test = TensorDataset(splits.x_test, splits.y_test)
    return DataLoader(train, batch_size=batch_size, shuffle=True), DataLoader(test, batch_size=512)


def seed_initial_weights() -> list[torch.Tensor]:
    """The seed's model as first built in the tour: its loaders made, then the model, after manual_seed(0)."""
    from torch import nn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mnist_shaped_loaders(batch_size=64)
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    return [p.detach() for p in model.parameters()]


def torchprimer_fit() -> tuple[list[dict[str, float]], dict[str, float], bool]:
    """The seed's recipe through torchprimer's training loop on the same split: history, test, and whether
    it started from the seed's initial weights."""
    from torchprimer.models import build_model, objective_for
    from torchprimer.progress import Silent
    from torchprimer.training.config import make_config
    from torchprimer.training.loop import evaluate, fit

    splits = mnist_shaped_splits()
    cfg = make_config(dataset="digits", model="mlp", hidden=(128,), epochs=EPOCHS, batch_size=64, lr=1e-3,
                      device="cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(cfg.model_spec, splits.input_shape, splits.num_classes)
        same_start = all(torch.equal(a, b) for a, b in zip(model.parameters(), seed_initial_weights(), strict=True))
        objective = objective_for(model)
        result = fit(model, splits, cfg, objective, Silent())
    return result.history, evaluate(model, splits.x_test, splits.y_test, objective), same_start


# The columns of the loss table the last_batch_not_mean check prints, one tuple per language.
LOSS_COLUMNS = {
    "en": ("epoch", "seed's print (last batch)", "epoch mean", "torchprimer fit (epoch mean)"),
    "zh": ("轮次", "原教程的输出（最后一批）", "整轮平均", "torchprimer 的 fit（整轮平均）"),
}


def _loss_table(columns: tuple[str, ...], printed: list[float], mean: list[float], ours: list[float]) -> str:
    """The three losses of each epoch side by side, right-aligned under `columns` (Chinese ones included)."""
    rows = [
        (f"{i + 1}", f"{p:.4f}", f"{m:.4f}", f"{o:.4f}")
        for i, (p, m, o) in enumerate(zip(printed, mean, ours, strict=False))
    ]
    widths = [max(display_width(cell) for cell in column) for column in zip(columns, *rows, strict=True)]
    return "\n".join(
        "  ".join(pad(cell, width, right=True) for cell, width in zip(row, widths, strict=True))
        for row in (columns, *rows)
    )


def _accuracy(model: torch.nn.Module, loader: torch.utils.data.DataLoader) -> float:
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x.view(-1, 784)).argmax(1) == y).sum()) for x, y in loader)
    return correct / len(loader.dataset)


def _interval(accuracy: float, samples: int) -> str:
    """The 95% Wilson interval of an accuracy on `samples` test samples, as "0.929-0.990"."""
    from torchprimer.training.run import wilson_interval

    low, high = wilson_interval(accuracy, samples)
    return f"{low:.3f}-{high:.3f}"


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert seed is not None and fixed is not None
    printed = [float(line.rsplit(" ", 1)[1]) for line in seed.stdout.splitlines() if line.startswith("Epoch")]
    last, mean = fixed.namespace.get("last_batch", []), fixed.namespace.get("epoch_mean", [])
    history, test, same_start = torchprimer_fit()
    ours = [r["train_loss"] for r in history]
    seed_acc = _accuracy(seed.namespace["model"], seed.namespace["test_loader"])
    falls = all(b < a for a, b in itertools.pairwise(ours))
    loader = seed.namespace["train_loader"]
    batch_size, samples = loader.batch_size, len(loader.dataset)
    last_size = samples % batch_size or batch_size
    rose = [str(epoch + 2) for epoch, (a, b) in enumerate(itertools.pairwise(printed)) if b > a]  # numbered from 1
    fell = sum(b < a for a, b in itertools.pairwise(mean))
    fixed_acc = fixed.namespace.get("test_accuracy", float("nan"))
    tested = len(seed.namespace["test_loader"].dataset)
    return {
        "seed_runs": (seed.error is None and len(printed) == EPOCHS, {
            "en": f"{len(printed)} epochs printed, " + (f"error: {seed.error}" if seed.error else "no error"),
            "zh": f"打印了 {len(printed)} 轮的损失，" + (f"错误：{seed.error}" if seed.error else "没有出错"),
        }),
        "same_run": (
            len(last) == EPOCHS and [f"{v:.4f}" for v in last] == [f"{v:.4f}" for v in printed],
            f"{[round(v, 4) for v in printed]}",
        ),
        "last_batch_not_mean": (
            len(mean) == EPOCHS and all(abs(p - m) > 1e-4 for p, m in zip(printed, mean, strict=False)),
            {lang: _loss_table(columns, printed, mean, ours) for lang, columns in LOSS_COLUMNS.items()},
        ),
        "last_batch_jumps": (last_size < batch_size and bool(rose) and len(mean) == EPOCHS and fell == EPOCHS - 1, {
            "en": f"last batch {last_size} samples, the others {batch_size};  the print rose in epochs "
                  f"{', '.join(rose)};  the epoch mean fell {fell} of {EPOCHS - 1} times",
            "zh": f"最后一批 {last_size} 个样本，其他批 {batch_size} 个；原教程的输出在第 {'、'.join(rose)} 轮上升；"
                  f"整轮平均 {EPOCHS - 1} 次中下降了 {fell} 次",
        }),
        "torchprimer_fit": (len(ours) == EPOCHS and falls and same_start, {
            "en": f"initial weights equal to the seed's: {same_start};  {ours[0]:.4f} -> {ours[-1]:.4f}; "
                  f"torchprimer test accuracy {test['accuracy']:.4f} "
                  f"(95% interval {_interval(test['accuracy'], tested)})",
            "zh": f"初始权重与原教程相同：{same_start}；{ours[0]:.4f} -> {ours[-1]:.4f}；"
                  f"torchprimer 的测试准确率 {test['accuracy']:.4f}"
                  f"（95% 区间 {_interval(test['accuracy'], tested)}）",
        }),
        "test_accuracy": (seed_acc >= 0.9, {
            "en": f"test accuracy {seed_acc:.4f} on {tested} samples (95% interval {_interval(seed_acc, tested)}; "
                  f"corrected loop: {fixed_acc:.4f})",
            "zh": f"在 {tested} 个样本上的测试准确率 {seed_acc:.4f}（95% 区间 {_interval(seed_acc, tested)}；"
                  f"修正后的循环：{fixed_acc:.4f}）",
        }),
    }
