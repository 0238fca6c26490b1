"""Checks that need a CUDA device; skipped without one (see conftest.py), run on a GPU machine."""

from __future__ import annotations

import warnings

import pytest
import torch

import torchprimer
from torchprimer import doctor

pytestmark = pytest.mark.gpu


def test_doctor_runs_real_work_on_every_cuda_device() -> None:
    for i in range(torch.cuda.device_count()):
        check = doctor.check_device(f"cuda:{i}", torch.cuda.get_device_name(i))
        assert check.ok, check
        assert check.max_abs_error < doctor.FLOAT32_TOLERANCE and check.gflops > 0


@pytest.mark.parametrize("amp", [False, True])
def test_training_on_cuda_learns_with_and_without_amp(amp: bool) -> None:
    result = torchprimer.train(device="cuda", amp=amp, epochs=3, save=False, progress="none")
    assert next(result.model.parameters()).device.type == "cuda"
    assert result.test["accuracy"] > 0.8


def test_cuda_cnn_with_augmentation_and_resume(tmp_path) -> None:
    first = torchprimer.train(device="cuda", model="cnn", augment=True, epochs=1, out=tmp_path, progress="none")
    resumed = torchprimer.train(resume=first.run_dir, epochs=2, progress="none")
    assert [r["epoch"] for r in resumed.history] == [1, 2]


def test_deterministic_cnn_on_cuda_reruns_to_the_same_weights() -> None:
    """Without it cuDNN picks its kernels by timing them (benchmark mode) and a rerun's last digits
    differ; `deterministic` asks for the same kernels and results every time."""
    runs = [torchprimer.train(device="cuda", model="cnn", deterministic=True, epochs=2, save=False, progress="none")
            for _ in range(2)]
    assert runs[0].test == runs[1].test
    assert [_losses(r) for r in runs[:1]] == [_losses(r) for r in runs[1:]]
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters(), strict=True):
        assert torch.equal(a, b)


def _losses(result: torchprimer.TrainResult) -> list[float]:
    return [r[k] for r in result.history for k in ("train_loss", "val_loss")]


@pytest.mark.parametrize("options", [
    {},  # the seed's recipe; digits' 1,437 training rows leave a smaller last batch, which runs eagerly
    {"schedule": "onecycle", "lr": 0.1, "clip": 1.0, "batchnorm": True, "optimizer": "sgd"},
])
def test_cuda_graph_trains_as_the_eager_step_does(options: dict[str, object]) -> None:
    common = {"device": "cuda", "epochs": 3, "save": False, "progress": "none", **options}
    eager = torchprimer.train(cuda_graph=False, **common)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graphed = torchprimer.train(**common)  # the default on CUDA
    torch.testing.assert_close(_losses(graphed), _losses(eager), rtol=1e-4, atol=1e-5)
    for a, b in zip(graphed.model.parameters(), eager.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert graphed.test["accuracy"] > 0.8
    # no step's autograd graph outlives it (else torch warns that gradients cross streams)
    assert not [w for w in caught if "AccumulateGrad" in str(w.message)]


def test_cuda_graph_with_dropout_amp_and_a_cnn_learns_and_resumes(tmp_path) -> None:
    mlp = torchprimer.train(device="cuda", cuda_graph=True, dropout=0.2, amp=True, epochs=3, save=False,
                            progress="none")
    assert mlp.test["accuracy"] > 0.8
    first = torchprimer.train(device="cuda", cuda_graph=True, model="cnn", augment=True, epochs=1, out=tmp_path,
                              progress="none")
    resumed = torchprimer.train(resume=first.run_dir, epochs=2, progress="none")
    assert resumed.config.cuda_graph and [r["epoch"] for r in resumed.history] == [1, 2]


def test_bench_on_cuda_times_the_graph_and_the_eager_step_and_the_conv_net() -> None:
    from torchprimer.bench import render, run_bench

    report = run_bench(device="cuda", n_train=600, n_test=100, repeats=1, conv_images=512)
    assert report["torchprimer_eager"]["samples"] == report["torchprimer"]["samples"] > 0
    assert report["ratios"]["torchprimer_vs_eager_speedup"] > 0
    assert len(report["conv"]["variants"]) == 4
    assert "--no-cuda-graph" in render(report) and "cuda" in report["environment"]["device"]
