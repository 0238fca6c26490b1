"""The page's "export code": a stand-alone PyTorch script that trains the same network.

The script needs only torch and NumPy (plus scikit-learn, mnist1d or torchvision where the
data set comes from them), so a learner can take it away, read it top to bottom and
change it. The 2-D spirals and xor sets are drawn by the very functions the playground
uses, copied in by `inspect`, so the script's points are the page's points.
"""

from __future__ import annotations

import inspect
from datetime import date

from torchprimer.data import toy
from torchprimer.data.batches import epoch_permutation
from torchprimer.data.mnist import FAMILIES
from torchprimer.data.splits import stratified_split
from torchprimer.models import ACTIVATIONS
from torchprimer.report import counted
from torchprimer.ui.settings import PlaygroundConfig

OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
UNTRAINED_EPOCHS = 100  # what the script of a network not yet trained trains: a start, for the learner to change


def trains(epochs: int, batches: int = 0, per_epoch: int = 0, *, untrained: bool = False,
           diverged: str | None = None) -> str:
    """What a script of `epochs` whole epochs then `batches` of the `per_epoch` batches of the next one trains,
    in words, for its docstring and the page: part of an epoch is said as such, never rounded to whole ones.
    `diverged` is the loss ("nan", "inf") of the last of those steps when it was not finite: the learner is told
    that the run stopped there because it diverged, not that it is a network worth having."""
    if untrained:
        return f"{counted(epochs, 'epoch')} from the playground's starting weights (it had trained none yet)"
    parts = [counted(epochs, "epoch")] if epochs else []
    if batches:
        parts.append(f"{batches:,} of the {per_epoch:,} batches of epoch {epochs + 1:,}")
    step = epochs * per_epoch + batches
    if diverged:
        return (f"{' and '.join(parts)}: the playground's run up to step {step:,}, where its loss became {diverged} "
                "and training stopped (it diverged)")
    return f"{' and '.join(parts)}: the playground's network as it was at step {step:,}"


def _toy_data(settings: PlaygroundConfig) -> tuple[list[str], str]:
    """(imports, code) that define make_data() -> (x float32 (N, 2), y int64 (N,))."""
    name = settings.dataset
    noise = toy.TOYS[name][0] if settings.noise is None else settings.noise
    n, seed = settings.n_samples, 0
    if name in ("spirals", "xor"):
        fn = toy._spirals if name == "spirals" else toy._xor
        code = inspect.getsource(fn) + (
            f"\n\ndef make_data():\n    x, y = {fn.__name__}({n}, {noise!r}, np.random.default_rng({seed}))\n"
            "    return x.astype(np.float32), y.astype(np.int64), None, None\n"
        )
        return [], code  # they use math, which every script imports
    call = {
        "moons": f"datasets.make_moons({n}, noise={noise!r}, random_state={seed})",
        "circles": f"datasets.make_circles({n}, noise={noise!r}, factor=0.5, random_state={seed})",
        "blobs": f"datasets.make_blobs({n}, n_features=2, centers=3, cluster_std={noise!r}, random_state={seed})",
    }[name]
    code = f"def make_data():\n    x, y = {call}\n    return x.astype(np.float32), y.astype(np.int64), None, None\n"
    return ["from sklearn import datasets"], code


def _data(settings: PlaygroundConfig) -> tuple[list[str], str]:
    """(imports, code): make_data() returns x, y, x_test, y_test; the last two are None where the set
    has no test split of its own (then it comes out of x, y as in the playground)."""
    name = settings.dataset
    if name in toy.TOYS:
        return _toy_data(settings)
    if name == "digits":
        return ["from sklearn.datasets import load_digits"], (
            "def make_data():\n    bunch = load_digits()  # 8x8 images, pixel counts 0..16\n"
            "    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8) in [0, 1]\n"
            "    return x, bunch.target.astype(np.int64), None, None\n"
        )
    if name == "mnist1d":
        return ["from mnist1d.data import get_dataset_args, make_dataset"], (
            "def make_data():\n    data = make_dataset(get_dataset_args())  # the published set (seed 42)\n"
            "    x = data['x'].astype(np.float32)[:, None]  # (N, 1, 40) signals\n"
            "    x_test = data['x_test'].astype(np.float32)[:, None]\n"
            "    return x, data['y'].astype(np.int64), x_test, data['y_test'].astype(np.int64)\n"
        )
    if name in FAMILIES:
        cls = FAMILIES[name].folder  # torchvision's class of the same name
        return ["from torchvision import datasets"], (
            "def make_data():\n"
            f"    train = datasets.{cls}('data', train=True, download=True)\n"
            f"    test = datasets.{cls}('data', train=False, download=True)\n"
            "    x = (train.data.numpy() / 255.0).astype(np.float32)[:, None]  # (N, 1, 28, 28)\n"
            "    x_test = (test.data.numpy() / 255.0).astype(np.float32)[:, None]\n"
            "    return x, train.targets.numpy(), x_test, test.targets.numpy()\n"
        )
    return ["from torchprimer.data import load"], (
        "def as_float(t):\n    return (t.float() / 255.0 if t.dtype == torch.uint8 else t.float()).numpy()\n\n\n"
        f"def make_data():\n    data = load({name!r})  # torchprimer's loader for this data set\n"
        "    if data.x_test is None:\n        return as_float(data.x), data.y.numpy(), None, None\n"
        "    return as_float(data.x), data.y.numpy(), as_float(data.x_test), data.y_test.numpy()\n"
    )


def _model(settings: PlaygroundConfig, features: str, classes: str) -> str:
    act = ACTIVATIONS[settings.activation].__name__
    lines = ["model = nn.Sequential(", "    nn.Flatten(),"]
    width = features
    for units in settings.hidden:
        lines.append(f"    nn.Linear({width}, {units}), nn.{act}(),")
        width = str(units)
    lines.append(f"    nn.Linear({width}, {classes}),")
    lines.append(")")
    return "\n".join(lines)


def render(settings: PlaygroundConfig, epochs: int, batches: int = 0, what: str | None = None, *,
           diverged: str | None = None) -> str:
    """The script's text for these settings, training for `epochs` epochs, then the first `batches` batches
    of the next one: a network paused part-way through an epoch is reproduced as it is, not as the whole
    epochs before it. `what` says so in the docstring (`trains`); by default, in epochs and batches.

    It repeats the playground's run step for step: the same points, the same stratified split
    and normalisation (torchprimer's own functions, copied in), the same initial weights (torch
    seeded the same way before the model is built) and the same batch order per epoch. Like the
    playground it stops at the first step whose loss is not finite, saying so, rather than print
    nan for every epoch after it; `diverged` (the loss the playground's run ended on, "nan" or "inf")
    says in the docstring that this run does so at its last step, and what to change.
    """
    epochs = epochs if batches else max(1, epochs)
    if what is None:
        what = counted(epochs, "epoch")
        if batches:
            what += f" and {counted(batches, 'batch', 'batches')} of epoch {epochs + 1:,}"
    imports, data_code = _data(settings)
    cfg = settings.train_config()
    train_share = 1.0 - cfg.val_fraction - cfg.test_fraction  # exactly as split_indices computes it
    optimizer = OPTIMIZERS[settings.optimizer]
    # fused=True: the kernel the page steps with (FlatAdam, fused SGD), so rounding agrees over any number of epochs
    extra = (", momentum=0.9" if settings.optimizer == "sgd" else "") + ", fused=True"
    layers = "-".join(["in", *(str(u) for u in settings.hidden), "out"])
    helpers = "\n\n".join(inspect.getsource(fn) for fn in (stratified_split, epoch_permutation))
    header = (
        f'"""Exported from the torchprimer playground on {date.today().isoformat()}.\n\n'
        f"Data: {settings.dataset}; network {layers} ({settings.activation}); {optimizer} lr {settings.lr:g}, "
        f"batch {settings.batch_size}, weight decay {settings.weight_decay:g}, seed {settings.seed}.\n"
        f"It trains {what}.\n"
        "Run it with plain python: it trains, printing the losses after every epoch (and after the part\n"
        "of one that BATCHES asks for). It repeats the playground's run: same data, split, initial weights\n"
        "and batch order.\n"
        + (f"The playground's loss became {diverged} at that last step: the run diverged, and this script stops\n"
           f"there too, saying so. The learning rate (lr={settings.lr!r} below) is too high for this network:\n"
           f"lower it (e.g. to {settings.lr / 10:g}), then set EPOCHS and BATCHES to train for as long as you like.\n"
           if diverged else "")
        + '"""\n'
    )
    return f"""{header}
import math

{chr(10).join(sorted(imports))}

import numpy as np
import torch
from torch import nn

# The playground trains on one CPU thread. Over more threads a sum adds its terms in another order, and the
# rounding differences grow epoch by epoch: on one thread this script prints the playground's numbers.
torch.set_num_threads(1)

# EPOCHS whole epochs, then the first BATCHES batches of the next one (where the playground was paused; 0: none)
EPOCHS = {epochs}
BATCHES = {batches}
BATCH_SIZE = {settings.batch_size}
SEED = {settings.seed}
VAL_SHARE = {cfg.val_fraction!r}  # validation rows: kept apart, unused here


{data_code}

{helpers}

torch.manual_seed(SEED)
x, y, x_test, y_test = (None if a is None else torch.from_numpy(a) for a in make_data())
if x_test is None:  # no official test split: train, validation and test rows of each class
    train_rows, val_rows, test_rows = stratified_split(y, [{train_share!r}, VAL_SHARE], SEED)
    x_test, y_test = x[test_rows], y[test_rows]
else:
    train_rows, val_rows = stratified_split(y, [1.0 - VAL_SHARE], SEED)
x_train, y_train = x[train_rows], y[train_rows]

# Normalise with the training split's statistics only (per channel for images and signals).
dims = [0] + list(range(2, x_train.dim()))
mean = x_train.double().mean(dim=dims, keepdim=True)[:1].float()
std = x_train.double().std(dim=dims, keepdim=True, unbiased=False)[:1].float()
std = torch.where(std > 0, std, torch.ones_like(std))
x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
classes = int(max(y_train.max(), y_test.max())) + 1

{_model(settings, "x_train[0].numel()", "classes")}
optimizer = torch.optim.{optimizer}(
    model.parameters(), lr={settings.lr!r}, weight_decay={settings.weight_decay!r}{extra}
)
loss_fn = nn.CrossEntropyLoss()

step = 0
for epoch in range(1, EPOCHS + 1 + (BATCHES > 0)):
    model.train()
    order = epoch_permutation(len(y_train), SEED, epoch - 1, "cpu")
    part = ""
    if epoch > EPOCHS:  # the epoch the playground was part-way through: only its first BATCHES batches
        order = order[: BATCHES * BATCH_SIZE]
        part = f" ({{BATCHES}} of {{(len(y_train) + BATCH_SIZE - 1) // BATCH_SIZE}} batches)"
    total = 0.0
    for start in range(0, len(order), BATCH_SIZE):
        rows = order[start : start + BATCH_SIZE]
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_train[rows]), y_train[rows])
        loss.backward()
        optimizer.step()
        step += 1
        value = loss.item()
        if not math.isfinite(value):  # as the playground does: past this step every loss would print as nan
            raise SystemExit(f"the loss became {{value}} at step {{step}} (epoch {{epoch}}): training diverged; "
                             f"lower the learning rate (lr= above, now {{optimizer.param_groups[0]['lr']:g}})")
        total += value * len(rows)
    model.eval()
    with torch.no_grad():
        out = model(x_test)
        test_loss = loss_fn(out, y_test).item()
        accuracy = (out.argmax(dim=1) == y_test).float().mean().item()
    print(f"epoch {{epoch:4d}}{{part}}  train loss {{total / len(order):.6f}}  "
          f"test loss {{test_loss:.6f}}  test accuracy {{accuracy:.4f}}")
"""
