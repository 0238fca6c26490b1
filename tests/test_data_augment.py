"""Batched augmentation: crops are true translations of the reflect-padded image, flips only
where the data allows, reproducible from the global torch seed."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from torchprimer import data as tpdata
from torchprimer.data.augment import default_padding, make_augment, random_crop


def batch(n: int = 16, c: int = 3, h: int = 12, w: int = 10) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(0))


def test_crop_is_a_window_of_the_reflect_padded_image():
    x, pad = batch(), 2
    torch.manual_seed(1)
    out = random_crop(x, pad)
    assert out.shape == x.shape
    padded = F.pad(x, (pad,) * 4, mode="reflect")
    for i in range(len(x)):
        windows = [padded[i, :, dy : dy + 12, dx : dx + 10] for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)]
        assert any(torch.equal(out[i], win) for win in windows)
    assert not torch.equal(out, x)  # 16 images: some offset is not (pad, pad)


def test_reproducible_from_the_global_seed():
    augment = make_augment(("image", (3, 12, 10)), flip=True)
    assert augment is not None
    torch.manual_seed(7)
    a = augment(batch())
    torch.manual_seed(7)
    b = augment(batch())
    assert torch.equal(a, b)


def test_flip_only_mirrors():
    augment = make_augment(("image", (3, 12, 10)), crop=False, flip=True)
    assert augment is not None
    x = batch(n=64)
    torch.manual_seed(0)
    out = augment(x)
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(64)]
    assert all(f or torch.equal(out[i], x[i]) for i, f in enumerate(flipped))
    assert 10 < sum(flipped) < 54


def test_policy_follows_the_data():
    digits = tpdata.prepare(tpdata.load("digits"))
    assert not digits.flip_invariant
    augment = make_augment(digits)  # digits: crop only, no flips
    assert augment is not None
    x = torch.zeros(32, 1, 8, 8)
    x[:, :, :, 0] = 1.0  # a bar on the left edge: a flip would move it to the right edge
    torch.manual_seed(0)
    out = augment(x)
    assert out[:, :, :, :2].sum() > 0
    assert out[:, :, :, 5:].sum() == 0  # crop moves by at most 1 pixel (8 // 8), never mirrors
    assert make_augment(tpdata.prepare(tpdata.load("moons"))) is None  # tables: nothing
    assert make_augment(("signal", (1, 40))) is None
    assert make_augment(("image", (1, 28, 28)), crop=False) is None
    assert default_padding(32, 32) == 4 and default_padding(28, 28) == 3 and default_padding(8, 8) == 1


def test_augment_keeps_dtype_and_device():
    augment = make_augment(("image", (3, 12, 10)), flip=True, padding=3)
    assert augment is not None
    out = augment(batch().half())
    assert out.dtype == torch.float16 and out.device.type == "cpu"
