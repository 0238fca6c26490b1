"""Image augmentation on whole batches on the device, in the style of the fastest CIFAR-10
trainers (airbench): no per-sample Python, no PIL, one gather per batch.

- Random crop with padding: each image is shifted by up to `padding` pixels in each
  direction, the gap filled by reflection (the data is already normalised, so zero
  padding would paint a grey frame that is in no real image).
- Horizontal flip with probability 1/2, only where a mirror image keeps its label
  (photos, clothes); never for digits or characters, where a flipped 2 is no longer a 2.
- Nothing for signals and tables: shifting a feature vector changes what it means.

Random numbers come from the global torch generator of the batch's device, so seeding
torch (and the training checkpoint's saved RNG state) makes augmentation reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from torchprimer.data.splits import Splits
from torchprimer.errors import UserError

Augment = Callable[[torch.Tensor], torch.Tensor]


def default_padding(height: int, width: int) -> int:
    """An eighth of the image side: 4 for 32x32 (the CIFAR-10 standard), 3 for 28x28, 1 for 8x8."""
    return max(1, min(height, width) // 8)


def random_crop(x: torch.Tensor, padding: int) -> torch.Tensor:
    """Shift every image of the batch (N, C, H, W) by its own random offset in [-padding, padding]."""
    n, _, h, w = x.shape
    pad = min(padding, h - 1, w - 1)  # reflection cannot pad more than the side minus one
    if pad <= 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (N, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indices around a slice put their dims first: the result is (N, H, W, C).
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def make_augment(
    data: Splits | tuple[str, Sequence[int]],
    *,
    crop: bool = True,
    flip: bool | None = None,
    padding: int | None = None,
) -> Augment | None:
    """A batch -> batch augmentation for this data, or None when none makes sense.

    `data` is a `Splits` (its kind, input shape and `flip_invariant` decide) or a
    `(kind, input_shape)` pair, for which flips are off unless `flip=True`. `flip=None`
    means "where the data allows"; `padding=None` means `default_padding`.
    """
    if isinstance(data, Splits):
        kind, shape, flip_ok = data.kind, tuple(data.input_shape), data.flip_invariant
    else:
        kind, shape = data[0], tuple(data[1])
        flip_ok = False
    if kind != "image" or len(shape) != 3:
        return None
    do_flip = flip_ok if flip is None else flip
    pad = 0
    if crop:
        pad = default_padding(shape[1], shape[2]) if padding is None else int(padding)
        if pad < 0:
            raise UserError(f"crop padding {pad} must be 0 (no crop) or more pixels, "
                            f"e.g. {default_padding(shape[1], shape[2])}",
                            zh=f"裁剪的填充 {pad} 必须是 0（不裁剪）或更多像素，"
                               f"例如 {default_padding(shape[1], shape[2])}")
    if pad == 0 and not do_flip:
        return None

    def augment(x: torch.Tensor) -> torch.Tensor:
        if pad:
            x = random_crop(x, pad)
        if do_flip:
            x = random_flip(x)
        return x

    return augment
