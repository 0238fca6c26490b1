"""The doctor's checks: real computation on the CPU, a failing device reported, JSON output."""

from __future__ import annotations

import json
import re
import shlex

import pytest
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
            "'torchvision==0.29.*' --index-url https://download.pytorch.org/whl/cpu") in texts
    assert "CPU-only build" in texts and "the CUDA version your driver supports" in texts


def test_missing_package_gets_a_pip_command() -> None:
    report = {"versions": {**{p: "1.0" for p in doctor.PACKAGES}, "torch": "2.14.1", "torchvision": "0.29.1",
                           "safetensors": None},
              "build": {"cuda_build": None}, "devices": [], "nvidia_driver": None, "checks": [],
              "executable": "/opt/env/bin/python"}
    assert {"problem": "safetensors is not installed", "problem_zh": "没有安装 safetensors",
            "fix": "/opt/env/bin/python -m pip install safetensors"} in doctor.problems(report)
    report["versions"].update(torch="2.14.1+cu130", torchvision=None)  # pinned to torch's pair, from its index
    assert {"problem": "torchvision is not installed", "problem_zh": "没有安装 torchvision",
            "fix": "/opt/env/bin/python -m pip install 'torchvision==0.29.*' --index-url "
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


def test_a_nan_gradient_fails_the_device_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's max() keeps its first argument against a NaN: a float32 backward that gave NaN gradients,
    with a loss that agreed, was reported as a max abs error of 2.1e-08 and a pass."""
    small_net = doctor._small_net

    def nan_gradients_in_float32(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        loss = small_net(x, w1, w2)
        if x.dtype == torch.float32:  # adds 0 to the loss, NaN to w1's gradient (d sqrt(|z|)/dz at 0)
            loss = loss + (w1.sum() * 0).abs().sqrt()
        return loss

    monkeypatch.setattr(doctor, "_small_net", nan_gradients_in_float32)
    check = doctor.check_device("cpu", "test cpu")
    assert not check.ok and check.max_abs_error != check.max_abs_error  # NaN
    report = doctor.run_doctor(check=lambda device, name: check)
    problem = next(p for p in report["problems"] if "compute check" in p["problem"])
    assert "NaN" in problem["problem"] and "float32 does not work" not in problem["problem"]


def test_fix_commands_paste_into_a_shell_as_they_are() -> None:
    """The fixes were joined with spaces: a Python under 'my env' split in two, and zsh (macOS) stops at the
    unquoted glob torchvision==0.29.* with "no matches found". A missing torchvision, which also fails to
    import, was reported a second time as 'compiled ops fail' with a --force-reinstall of torch."""
    python = "/home/me/my env/bin/python"
    report = {"versions": {**{p: "1.0" for p in doctor.PACKAGES}, "torch": "2.14.1+cu130", "torchvision": None},
              "build": {"cuda_build": "13.0"}, "devices": [{"device": "cpu"}], "nvidia_driver": None, "checks": [],
              "executable": python, "torchvision_error": "ModuleNotFoundError: No module named 'torchvision'"}
    found = doctor.problems(report)
    assert [p["problem"] for p in found] == ["torchvision is not installed"]
    assert shlex.split(found[0]["fix"]) == [python, "-m", "pip", "install", "torchvision==0.29.*", "--index-url",
                                            "https://download.pytorch.org/whl/cu130"]
    report["versions"]["torchvision"] = "0.21.0"  # installed, of another torch's pair
    fix = next(p["fix"] for p in doctor.problems(report) if "does not match" in p["problem"])
    assert shlex.split(fix)[:6] == [python, "-m", "pip", "install", "torch==2.14.1", "torchvision==0.29.*"]


def test_no_usable_temporary_folder_is_not_a_broken_install() -> None:
    """Where no temporary folder can be written, torchvision's ops fail as torch's compiler starts; the fix
    was a --force-reinstall of torch, which cannot help."""
    report = {"versions": {**{p: "1.0" for p in doctor.PACKAGES}, "torch": "2.14.1+cu130", "torchvision": "0.29.1"},
              "build": {"cuda_build": "13.0"}, "devices": [{"device": "cpu"}], "nvidia_driver": None, "checks": [],
              "executable": "python", "torchvision_error":
              "FileNotFoundError: [Errno 2] No usable temporary directory found in ['/tmp', '/var/tmp', '/usr/tmp']"}
    problem = next(p for p in doctor.problems(report) if "compiled ops fail" in p["problem"])
    assert problem["fix"] == "mkdir -p ~/tmp && export TMPDIR=~/tmp"
    report["torchvision_error"] = "RuntimeError: operator torchvision::nms does not exist"
    fix = next(p["fix"] for p in doctor.problems(report) if "compiled ops fail" in p["problem"])
    assert "--force-reinstall" in shlex.split(fix)


def test_the_report_shows_markup_like_text_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    """rich read '[/...]' in a device's error as a closing tag: the doctor died with a MarkupError traceback."""
    def broken(device: str, name: str) -> doctor.DeviceCheck:
        return doctor.DeviceCheck(device=device, name="gpu [bold]x", ok=False,
                                  error="RuntimeError: cannot load [/opt/lib/libcudart.so]")

    doctor.render(doctor.run_doctor(check=broken))
    out = capsys.readouterr().out
    assert "compute check (RuntimeError: cannot load [/opt/lib/libcudart.so])" in out and "gpu [bold]x" in out


def test_a_gpu_that_cannot_be_opened_is_reported_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """is_available() may count GPUs through NVML (PYTORCH_NVML_BASED_CUDA_CHECK=1) where CUDA cannot start,
    e.g. a driver too old for the build: the doctor, the command meant to explain that, died with a traceback
    in get_device_properties (and in cudnn.version(), which asks every GPU its capability)."""
    def cannot_start(*args: object) -> None:
        raise RuntimeError("The NVIDIA driver on your system is too old (found version 11040)")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", cannot_start)
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", cannot_start)
    report = doctor.run_doctor(check=lambda device, name: doctor.DeviceCheck(device=device, name=name,
                                                                           ok=device == "cpu"))
    gpu = report["devices"][1]
    assert gpu["device"] == "cuda:0" and "driver on your system is too old" in gpu["error"]
    assert report["build"]["cudnn"] is None and report["ok"] is False


def test_cudnn_is_shown_as_people_write_its_version() -> None:
    from torchprimer.doctor import cudnn_text

    assert cudnn_text(92400) == "9.24.0 (92400)" and cudnn_text(8907) == "8.9.7 (8907)" and cudnn_text(None) is None


@pytest.mark.parametrize(("cuda_build", "driver", "noted"), [("13.0", None, True), (None, None, False),
                                                             ("13.0", "580.1", False)])
def test_a_cuda_build_without_a_driver_is_explained_not_failed(cuda_build: str | None, driver: str | None,
                                                               noted: bool) -> None:
    """A CUDA build on a machine with no NVIDIA driver said "verdict: OK" and never why is_available() is False."""
    from torchprimer.doctor import notes

    report = {"build": {"cuda_build": cuda_build}, "devices": [{"device": "cpu"}], "nvidia_driver": driver}
    said = notes(report)
    assert bool(said) == noted
    if noted:
        assert "torch.cuda.is_available() is False and everything runs on the CPU" in said[0]["note"]
        assert "torch.cuda.is_available() 为 False，一切都在 CPU 上运行" in said[0]["note_zh"]


def test_the_doctor_speaks_chinese_under_lang_zh() -> None:
    """The §2 check a learner meets first had no Chinese, though the tour's §2.2 sends them to it."""
    zh, en = run_cli("doctor", "--lang", "zh"), run_cli("doctor", "--lang", "en")
    assert zh.returncode == en.returncode == 0, zh.stderr
    assert "结论：正常 —— torch" in zh.stdout and re.search(r"在 \d+ 个设备上计算正确", zh.stdout)
    assert "设备：在每个设备上真正做一次前向 + 反向计算" in zh.stdout and "verdict" not in zh.stdout
    assert "verdict: OK" in en.stdout and "结论" not in en.stdout
    assert json.loads(run_cli("doctor", "--json", "--lang", "zh").stdout)["ok"] is True  # the same in both
