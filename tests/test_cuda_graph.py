"""ReplayedStep (training/cuda_graph.py) on the CPU, with torch's CUDA graph calls replaced by a
stand-in: the step's function hands the stand-in its "kernels" (a closure over the fixed buffers)
while it is being recorded, and a replay runs them again. Checks which steps run eagerly, that one
recording is replayed, and that every step's results are its own. The real recording runs on a
GPU in tests/test_gpu.py."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

import pytest
import torch

from torchprimer.training import cuda_graph
from torchprimer.training.config import make_config
from torchprimer.training.loop import uses_cuda_graph

Kernels = Callable[[], None]


class FakeStream:
    def wait_stream(self, other: object) -> None:
        pass


class FakeGraph:
    def __init__(self) -> None:
        self.kernels: Kernels | None = None
        self.replays = 0

    def replay(self) -> None:
        assert self.kernels is not None
        self.replays += 1
        self.kernels()


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    seen: dict[str, list] = {"graphs": [], "recording": []}

    def new_graph() -> FakeGraph:
        seen["graphs"].append(FakeGraph())
        return seen["graphs"][-1]

    @contextlib.contextmanager
    def record(graph: FakeGraph) -> Iterator[None]:
        seen["recording"].append(graph)
        yield
        seen["recording"].pop()

    monkeypatch.setattr(torch.cuda, "CUDAGraph", new_graph)
    monkeypatch.setattr(torch.cuda, "graph", record)
    monkeypatch.setattr(torch.cuda, "Stream", lambda device: FakeStream())
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device: FakeStream())
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: contextlib.nullcontext())
    return seen


def test_warm_up_then_record_once_then_replay(recorder: dict[str, list]) -> None:
    runs: list[float] = []

    def compute(x: torch.Tensor, y: torch.Tensor, weight: float) -> tuple[torch.Tensor, torch.Tensor]:
        runs.append(weight)
        out, loss = torch.empty(len(x)), torch.empty(())

        def kernels() -> None:
            out.copy_(x.sum(1) * weight)
            loss.copy_(y.float().mean())

        if recorder["recording"]:  # recording runs nothing; a replay will
            recorder["recording"][-1].kernels = kernels
        else:
            kernels()
        return out, loss

    step = cuda_graph.ReplayedStep(compute, warmup=2)
    x, y = torch.arange(12.0).view(4, 3), torch.tensor([0, 1, 2, 3])
    results = [step(x + i, y + i) for i in range(5)]
    (graph,) = recorder["graphs"]
    assert len(runs) == 3 and graph.replays == 3  # 2 eager warm-up steps, 1 recording, then replays only
    for i, (out, loss) in enumerate(results):  # every step keeps its own results, not the buffers'
        assert torch.equal(out, (x + i).sum(1)) and float(loss) == 1.5 + i
    # a batch of another shape and a weighted (DDP) step run eagerly and are not recorded
    small, weighted = step(x[:2], y[:2]), step(x, y, 0.5)
    assert torch.equal(small[0], x[:2].sum(1)) and torch.equal(weighted[0], x.sum(1) * 0.5)
    assert len(runs) == 5 and len(recorder["graphs"]) == 1 and graph.replays == 3


def test_on_by_default_for_cuda_only_where_it_applies() -> None:
    cuda, cpu = torch.device("cuda"), torch.device("cpu")  # device objects: no GPU needed to decide
    assert uses_cuda_graph(make_config(), cuda) and not uses_cuda_graph(make_config(), cpu)
    assert not uses_cuda_graph(dataclasses.replace(make_config(), compile=True), cuda)  # CPU refuses --compile
    assert not uses_cuda_graph(make_config(backward="manual"), cuda)
    assert not uses_cuda_graph(make_config(cuda_graph=False), cuda)
