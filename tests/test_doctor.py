"""The doctor's checks: real computation on the CPU, a failing device reported, JSON output."""

from __future__ import annotations

import json

import torch
from conftest import run_cli

from torchprimer import doctor


def test_cpu_numerics_are_checked_against_float64() -> None:
    err = doctor.numerics_error("cpu", torch.float32)
    assert 0 <= err < doctor.FLOAT32_TOLERANCE
    # float16 carries ~3 decimal digits: the same check must see a far larger error.
    assert doctor.numerics_error("cpu", torch.bfloat16) > 10 * err


def test_check_device_reports_dtypes_and_throughput() -> None:
    check = doctor.check_device("cpu", "test cpu")
    assert check.ok
    assert check.dtypes["float32"] is True
    assert check.gflops is not None and check.gflops > 0


def test_a_failing_device_check_fails_the_verdict_with_a_fix() -> None:
    def broken(device: str, name: str) -> doctor.DeviceCheck:
        return doctor.DeviceCheck(device=device, name=name, ok=False, max_abs_error=0.5,
                                  dtypes={"float32": True})

    report = doctor.run_doctor(check=broken)
    assert report["ok"] is False
    problem = next(p for p in report["problems"] if "compute check" in p["problem"])
    assert "cpu" in problem["problem"] and problem["fix"]


def test_a_float32_failure_is_not_called_a_numeric_error() -> None:
    """The problem said 'max abs error 2.12e-08 > 0.0001', a comparison that is false."""
    def no_float32(device: str, name: str) -> doctor.DeviceCheck:
        return doctor.DeviceCheck(device=device, name=name, ok=False, max_abs_error=2.12e-8,
                                  dtypes={"float32": False})

    problem = next(p for p in doctor.run_doctor(check=no_float32)["problems"] if "compute check" in p["problem"])
    assert "float32 does not work" in problem["problem"] and "2.12e-08" not in problem["problem"]


def test_a_device_that_raises_is_reported_not_crashing(monkeypatch) -> None:
    def explode(device: str, dtype=torch.float32, seed: int = 0) -> float:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(doctor, "numerics_error", explode)
    check = doctor.check_device("cpu")
    assert not check.ok and "illegal memory access" in check.error


def test_problems_name_the_fix_for_cpu_build_with_driver_and_version_mismatch() -> None:
    report = {
        "versions": {**{p: "1.0" for p in doctor.PACKAGES}, "torch": "2.14.1+cpu", "torchvision": "0.21.0"},
        "build": {"cuda_build": None},
        "devices": [{"device": "cpu"}],
        "nvidia_driver": "560.35",
        "checks": [],
    }
    found = doctor.problems({**report, "executable": "/opt/env/bin/python"})
    texts = " | ".join(p["problem"] + " -> " + p["fix"] for p in found)
    # the same index as the installed +cpu build, or PyPI's default torchvision would not match it
    assert ("does not match torch 2.14.1 (expects 0.29.x) -> /opt/env/bin/python -m pip install torch==2.14.1 "
            "torchvision==0.29.* --index-url https://download.pytorch.org/whl/cpu") in texts
    assert "CPU-only build" in texts and "the CUDA version your driver supports" in texts


def test_missing_package_gets_a_pip_command() -> None:
    report = {"versions": {**{p: "1.0" for p in doctor.PACKAGES}, "torch": "2.14.1", "torchvision": "0.29.1",
                           "safetensors": None},
              "build": {"cuda_build": None}, "devices": [], "nvidia_driver": None, "checks": [],
              "executable": "/opt/env/bin/python"}
    assert {"problem": "safetensors is not installed",
            "fix": "/opt/env/bin/python -m pip install safetensors"} in doctor.problems(report)
    report["versions"].update(torch="2.14.1+cu130", torchvision=None)  # pinned to torch's pair, from its index
    assert {"problem": "torchvision is not installed",
            "fix": "/opt/env/bin/python -m pip install torchvision==0.29.* --index-url "
                   "https://download.pytorch.org/whl/cu130"} in doctor.problems(report)


def test_doctor_json_cli_is_one_valid_object() -> None:
    proc = run_cli("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    cpu = report["checks"][0]
    assert cpu["device"] == "cpu" and cpu["ok"] and cpu["max_abs_error"] < 1e-4 and cpu["gflops"] > 0
    assert report["build"]["torch"] == torch.__version__
    assert torch.__version__.startswith(report["versions"]["torch"])
    assert report["build"]["cpu_capability"]


def test_doctor_in_a_pipe_keeps_the_device_table_whole() -> None:
    """Piped or logged, rich assumed 80 columns: the header read 'bfloat…' and 'max abs error' wrapped."""
    proc = run_cli("doctor", env={"COLUMNS": ""})
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if "device" in line and "name" in line)
    assert "max abs error" in header and "bfloat16" in header and "…" not in proc.stdout
