"""Batches as slices of tensors already on the device: no per-sample Python, no DataLoader.

On an accelerator each epoch the whole training set is permuted once (one gather kernel)
and batches are contiguous views of that copy: one launch instead of one per batch. On the
CPU each batch is gathered by itself instead: copying the whole set every epoch writes it
to fresh, cache-cold memory, which cost 2.5-5x more than gathering per batch into
small buffers that stay in cache (`torchprimer bench`). Both give the same batches.
The permutation comes from a generator seeded by (seed, epoch), so the order of any
epoch can be recomputed exactly after a resume without saving it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device | str) -> torch.Tensor:
    """The data order of one epoch, a pure function of (seed, epoch). The generator's seed is taken
    modulo 2**64, what manual_seed holds: every seed the options allow (up to 2**63 - 1) works, and
    every one that worked before gives the same order."""
    generator = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % 2**64)
    return torch.randperm(n, generator=generator).to(device)


def device_batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    seed: int | None = None,
    epoch: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) batches; shuffled by (seed, epoch) when a seed is given. Keeps the last,
    smaller batch so every sample is seen once per epoch."""
    if seed is not None:
        perm = epoch_permutation(len(y), seed, epoch, y.device)
        if y.device.type == "cpu":
            for start in range(0, len(y), batch_size):
                rows = perm[start : start + batch_size]
                yield x.index_select(0, rows), y.index_select(0, rows)
            return
        x, y = x[perm], y[perm]
    for start in range(0, len(y), batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]


def num_batches(n: int, batch_size: int) -> int:
    return (n + batch_size - 1) // batch_size
