"""Checks that need a CUDA device; skipped without one (see conftest.py), run on a GPU machine."""

from __future__ import annotations

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
