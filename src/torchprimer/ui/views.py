"""What the page draws, computed from the live network: plain functions of tensors.

Pictures travel as bytes (base64 of uint8 grids), not as PNGs: the page colours them
itself, so the server does no image encoding and a frame stays a few kilobytes.
"""

from __future__ import annotations

import base64
from typing import Any

import torch
from torch import nn

from torchprimer.models import Objective

GRID = 50  # decision-boundary cells per side
UNIT_GRID = 25  # cells per side of each hidden unit's small map
MAX_UNIT_MAPS = 64  # beyond this many hidden units the maps are left out (too small to read)
STRIP = 12  # test samples shown with their predictions


def b64(values: torch.Tensor) -> str:
    """A tensor of [0, 1] floats as base64 bytes 0..255, row-major."""
    data = (values.clamp(0, 1) * 255).round().to(torch.uint8).contiguous().numpy().tobytes()
    return base64.b64encode(data).decode("ascii")


def extent(points: torch.Tensor, margin: float = 0.15) -> list[float]:
    """[x0, x1, y0, y1] around 2-D points with a margin, square so circles look round."""
    lo, hi = points.min(dim=0).values, points.max(dim=0).values
    centre, half = (lo + hi) / 2, float((hi - lo).max()) / 2 * (1 + margin)
    half = max(half, 1e-3)
    return [float(centre[0]) - half, float(centre[0]) + half, float(centre[1]) - half, float(centre[1]) + half]


def grid_points(box: list[float], n: int) -> torch.Tensor:
    """n x n cell centres over box, row 0 at the top (largest y), as the canvas draws them."""
    xs = torch.linspace(box[0], box[1], n)
    ys = torch.linspace(box[3], box[2], n)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def layer_outputs(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The model's output and the output of each hidden layer (after its activation).

    Works on the `nn.Sequential` MLPs torchprimer builds: a hidden layer's output is what
    its last module before the next Linear gives.
    """
    hidden: list[torch.Tensor] = []
    modules = list(model.children()) if isinstance(model, nn.Sequential) else [model]
    seen_linear = False
    h = x
    for i, module in enumerate(modules):
        h = module(h)
        seen_linear = seen_linear or isinstance(module, nn.Linear)
        nxt = modules[i + 1] if i + 1 < len(modules) else None
        if seen_linear and isinstance(nxt, nn.Linear):
            hidden.append(h)
    return h, hidden


@torch.inference_mode()
def boundary(model: nn.Module, objective: Objective, box: list[float], mean: torch.Tensor,
             std: torch.Tensor) -> dict[str, Any]:
    """Class probabilities over the plane and each hidden unit's output on a coarser grid.

    Unit outputs are scaled by their largest magnitude on the grid, so each map uses the
    whole colour range from -1 (orange) to +1 (blue), as TensorFlow Playground draws them.
    """
    model.eval()
    safe = torch.where(std > 0, std, torch.ones_like(std))
    fine = (grid_points(box, GRID) - mean) / safe
    out, _ = layer_outputs(model, fine)
    probs = objective.probabilities(out)  # (GRID*GRID, classes)
    coarse = (grid_points(box, UNIT_GRID) - mean) / safe
    _, hidden = layer_outputs(model, coarse)
    units: list[list[str]] = []
    if sum(h.shape[1] for h in hidden) <= MAX_UNIT_MAPS:
        for h in hidden:
            scale = h.abs().max(dim=0).values.clamp_min(1e-12)
            units.append([b64((h[:, j] / scale[j] + 1) / 2) for j in range(h.shape[1])])
    model.train()
    return {"size": GRID, "unit_size": UNIT_GRID, "extent": box, "classes": probs.shape[1],
            "probs": b64(probs), "units": units}


def confusion(y_true: torch.Tensor, y_pred: torch.Tensor, classes: int) -> list[list[int]]:
    """counts[true][predicted]."""
    counts = torch.bincount(y_true * classes + y_pred, minlength=classes * classes)
    return counts.reshape(classes, classes).tolist()


def strip_samples(x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                  kind: str) -> dict[str, Any]:
    """The first STRIP test samples, back in [0, 1] for drawing: images as C x H x W bytes,
    signals as L values."""
    n = min(STRIP, len(y))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    raw = x[:n] * std.view(shape) + mean.view(shape)
    if kind == "image":
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(raw.min()), float(raw.max())
    scaled = (raw - lo) / max(hi - lo, 1e-12)
    return {"kind": kind, "shape": list(x.shape[1:]), "labels": y[:n].tolist(),
            "samples": [b64(s) for s in scaled]}


def gradient_norms(model: nn.Module) -> list[dict[str, Any]]:
    """The L2 norm of each Linear layer's weight gradient from the last step, input side first.

    Shrinking norms toward the input are the vanishing gradients of the seed's activation
    lesson, visible live."""
    rows = []
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        grad = layer.weight.grad
        rows.append({"layer": f"{i + 1}: {layer.in_features}\u2192{layer.out_features}",
                     "norm": float(grad.norm()) if grad is not None else 0.0})
    return rows
