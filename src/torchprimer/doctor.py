"""`torchprimer doctor` (seed §2): is PyTorch installed, and does it really compute?

Printing `torch.cuda.is_available()` (the seed's check) proves little. The doctor lists
versions and build, then runs a forward and backward pass on every device and compares
it with float64 on the CPU, tries each floating dtype, measures matmul throughput, and
says exactly how to fix what it finds.
"""

from __future__ import annotations

import importlib.metadata as md
import math
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "scikit-learn", "mnist1d", "rich",
            "typer", "safetensors"]
OPTIONAL = ["onnx", "onnxruntime", "onnxscript", "tensorboard"]
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
FLOAT32_TOLERANCE = 1e-4


@dataclass
class DeviceCheck:
    """What running real work on one device showed."""

    device: str
    name: str
    ok: bool
    max_abs_error: float | None = None
    dtypes: dict[str, bool] = field(default_factory=dict)
    gflops: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def versions() -> dict[str, str | None]:
    """Installed versions of Python and every dependency (None where missing)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES + OPTIONAL:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = None
    return found


def build_info() -> dict[str, Any]:
    """How this torch was built: CUDA/cuDNN it targets, BLAS, oneDNN, CPU capability."""
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    onednn = re.search(r"MKL-DNN v([\d.]+)", config)
    cudnn = None
    if torch.backends.cudnn.is_available():
        try:  # asks every GPU its capability, which raises where CUDA cannot start: list_devices says why
            cudnn = torch.backends.cudnn.version()
        except Exception:
            cudnn = None
    return {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cudnn": cudnn,
        "blas": blas.group(1) if blas else None,
        "onednn": onednn.group(1) if onednn and torch.backends.mkldnn.is_available() else None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cores": os.cpu_count(),
    }


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def list_devices() -> list[dict[str, Any]]:
    """CPU always, then every CUDA device, then Apple MPS where present."""
    devices: list[dict[str, Any]] = [{"device": "cpu", "name": cpu_name()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            try:
                p = torch.cuda.get_device_properties(i)
            except Exception as exc:
                # is_available() may count GPUs through NVML (PYTORCH_NVML_BASED_CUDA_CHECK=1) where CUDA itself
                # cannot start (a driver too old for this build): the doctor ended in a traceback here. Listed,
                # the device's own check fails with this error and the report says so.
                devices.append({"device": f"cuda:{i}", "name": "(could not be opened)",
                                "error": f"{type(exc).__name__}: {exc}"})
                continue
            devices.append({
                "device": f"cuda:{i}", "name": p.name, "capability": f"{p.major}.{p.minor}",
                "memory_gib": round(p.total_memory / 2**30, 1),
            })
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"device": "mps", "name": "Apple Metal (MPS)"})
    return devices


def _small_net(x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """matmul, a nonlinearity and a reduction: the pieces every network is made of."""
    return (torch.tanh(x @ w1) @ w2).square().mean()


def numerics_error(device: str, dtype: torch.dtype = torch.float32, seed: int = 0) -> float:
    """Max abs difference of loss and gradients on `device` against float64 on the CPU."""
    g = torch.Generator().manual_seed(seed)
    x, w1, w2 = (torch.randn(*s, generator=g, dtype=torch.float64) for s in [(64, 32), (32, 48), (48, 8)])
    x, w1, w2 = x, w1 * 0.2, w2 * 0.2

    def run(dev: str, dt: torch.dtype) -> list[torch.Tensor]:
        params = [t.detach().to(dev, dt).clone().requires_grad_(True) for t in (w1, w2)]
        loss = _small_net(x.to(dev, dt), *params)
        loss.backward()
        return [t.detach().to("cpu", torch.float64) for t in (loss, params[0].grad, params[1].grad)]

    reference = run("cpu", torch.float64)
    measured = run(device, dtype)
    errors = [float((a - b).abs().max()) for a, b in zip(reference, measured, strict=True)]
    # Python's max() keeps its first argument against a NaN (every comparison with NaN is false): a device
    # whose loss agreed but whose gradients came out NaN read as a pass. A NaN anywhere is the error.
    return math.nan if any(math.isnan(e) for e in errors) else max(errors)


def dtype_works(device: str, dtype: torch.dtype) -> bool:
    try:
        a = torch.randn(16, 16, device=device, dtype=dtype, requires_grad=True)
        (torch.relu(a @ a).sum()).backward()
        return bool(torch.isfinite(a.grad.float()).all())
    except (RuntimeError, TypeError):
        return False


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


def matmul_gflops(device: str, seconds: float = 0.25) -> float:
    """float32 matmul throughput: repeat an n x n product for about `seconds`."""
    n = 1024 if device == "cpu" else 4096
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b  # warm-up: first call pays for library initialisation
    _sync(device)
    iters, start = 0, time.perf_counter()
    while True:
        a @ b
        iters += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return 2 * n**3 * iters / elapsed / 1e9


def check_device(device: str, name: str = "") -> DeviceCheck:
    """Run the numeric check, the dtype probe and the throughput figure on one device."""
    try:
        error = numerics_error(device)
        dtypes = {k: dtype_works(device, v) for k, v in DTYPES.items()}
        gflops = matmul_gflops(device)
    except Exception as exc:  # a broken device may fail in any way; report it, don't crash
        return DeviceCheck(device=device, name=name, ok=False, error=f"{type(exc).__name__}: {exc}")
    ok = error < FLOAT32_TOLERANCE and dtypes["float32"]
    return DeviceCheck(device=device, name=name, ok=ok, max_abs_error=error, dtypes=dtypes, gflops=gflops)


def nvidia_driver() -> str | None:
    """The NVIDIA driver version if `nvidia-smi` answers, else None."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def expected_torchvision(torch_version: str) -> str | None:
    """torchvision 0.(m+15) pairs with torch 2.m (0.15 with 2.0 ... 0.29 with 2.14)."""
    m = re.match(r"2\.(\d+)", torch_version)
    return f"0.{int(m.group(1)) + 15}" if m else None


def torchvision_works() -> str | None:
    """None if torchvision's compiled ops load beside this torch, else the error."""
    try:
        import torchvision

        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        torchvision.ops.nms(boxes, torch.tensor([1.0]), 0.5)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def shell_command(words: list[str]) -> str:
    """`words` as one line to paste into this system's shell, each quoted where it must be: a Python under
    a folder with a space split into two words, and `torchvision==0.29.*` is a glob pattern that zsh (macOS's
    shell) refuses to run when no file matches it ("no matches found"). cmd.exe and PowerShell do not glob
    and do not read single quotes, so Windows gets its own quoting (double quotes around spaces only)."""
    return subprocess.list2cmdline(words) if os.name == "nt" else shlex.join(words)


def cudnn_text(version: int | None) -> str | None:
    """cuDNN's version number as people write it: 92400 -> "9.24.0", 8907 -> "8.9.7" (cuDNN 9 changed the
    encoding from major*1000 + minor*100 + patch to major*10000 + minor*100 + patch)."""
    if version is None:
        return None
    major, rest = divmod(version, 10_000) if version >= 90_000 else divmod(version, 1_000)
    return f"{major}.{rest // 100}.{rest % 100} ({version})"


def notes(report: dict[str, Any]) -> list[dict[str, str]]:
    """What is not wrong but puzzles a learner: a CUDA build of torch on a machine with no NVIDIA driver, where
    torch.cuda.is_available() (the seed's §2.2 check) is False and everything runs on the CPU."""
    build = report["build"]
    has_cuda = any(d["device"].startswith("cuda") for d in report["devices"])
    if build["cuda_build"] and not has_cuda and not report.get("nvidia_driver"):
        return [{"note": f"this torch is built for CUDA {build['cuda_build']}, but no NVIDIA driver answers here "
                         "(nvidia-smi not found), so torch.cuda.is_available() is False and everything runs on the "
                         "CPU. That is fine on a machine without an NVIDIA GPU: a CUDA build runs on the CPU too. On "
                         "a machine with one, install NVIDIA's driver, then run the doctor again.",
                 "note_zh": f"这个 torch 是为 CUDA {build['cuda_build']} 构建的，但这里没有 NVIDIA 驱动应答（找不到 "
                            "nvidia-smi），所以 torch.cuda.is_available() 为 False，一切都在 CPU 上运行。在没有 NVIDIA "
                            "GPU 的机器上这没有问题：CUDA 版本的 torch 也能在 CPU 上运行。在有 GPU 的机器上，请安装 "
                            "NVIDIA 驱动，然后再运行一次 doctor。"}]
    return []


def problems(report: dict[str, Any]) -> list[dict[str, str]]:
    """Each thing that is wrong, with the exact command that fixes it."""
    found: list[dict[str, str]] = []
    v, build = report["versions"], report["build"]
    torch_v, _, variant = (v.get("torch") or "").partition("+")  # "2.14.1+cu130": the build's own index
    pair = expected_torchvision(torch_v)
    # The pip of the Python that was checked, not whichever is first on PATH; torchvision pinned to torch's
    # pair (a bare install pulls the newest, which may replace a working torch); reinstalls from the
    # index the installed build came from (+cpu, +cu130), else PyPI's torchvision would not match it.
    pip = [report.get("executable") or "python", "-m", "pip", "install"]
    index = ["--index-url", f"https://download.pytorch.org/whl/{variant}"] if variant else []
    vision = f"torchvision=={pair}.*" if pair else "torchvision"  # no pair known (not torch 2.x): no pin, not "None.*"
    for name in PACKAGES:
        if v.get(name) is None:
            found.append({"problem": f"{name} is not installed", "problem_zh": f"没有安装 {name}",
                          "fix": shell_command([*pip, *([vision, *index] if name == "torchvision" else [name])])})
    tv = v.get("torchvision")
    if tv and pair and not tv.startswith(pair + "."):
        found.append({
            "problem": f"torchvision {tv} does not match torch {torch_v} (expects {pair}.x)",
            "problem_zh": f"torchvision {tv} 与 torch {torch_v} 不配套（应为 {pair}.x）",
            "fix": shell_command([*pip, f"torch=={torch_v}", vision, *index]),
        })
    elif tv and report.get("torchvision_error"):  # a missing torchvision fails to import: said above, with its fix
        error = report["torchvision_error"]
        # torch's compiler, which the ops' registration imports, needs a temporary folder: the install is fine
        no_tmp = "No usable temporary directory" in error
        found.append({"problem": f"torchvision's compiled ops fail: {error}",
                      "problem_zh": f"torchvision 的编译算子无法运行：{error}",
                      "fix": "mkdir -p ~/tmp && export TMPDIR=~/tmp" if no_tmp
                      else shell_command([*pip, "--force-reinstall", f"torch=={torch_v}", vision, *index])})
    driver = report.get("nvidia_driver")
    has_cuda = any(d["device"].startswith("cuda") for d in report["devices"])
    if driver and not has_cuda:
        if build["cuda_build"] is None:
            found.append({
                "problem": f"an NVIDIA driver ({driver}) answers, but this torch is a CPU-only build",
                "problem_zh": f"NVIDIA 驱动（{driver}）有应答，但这个 torch 是只支持 CPU 的版本",
                "fix": shell_command([*pip, "--force-reinstall", f"torch=={torch_v}", vision, "--index-url"])
                       + " https://download.pytorch.org/whl/cuXXX, with the CUDA version your driver supports "
                       "(nvidia-smi's 'CUDA Version'; https://pytorch.org/get-started/locally/ lists the builds) "
                       "(or with conda, from conda-forge: conda install -c conda-forge pytorch-gpu torchvision; "
                       "PyTorch's own -c pytorch channel stopped at 2.5)",
            })
        else:
            found.append({
                "problem": f"torch is built for CUDA {build['cuda_build']} but cannot use the GPU "
                           f"with driver {driver}",
                "problem_zh": f"torch 是为 CUDA {build['cuda_build']} 构建的，但用驱动 {driver} 无法使用 GPU",
                "fix": "update the NVIDIA driver to one that supports CUDA "
                       f"{build['cuda_build']}, or install a torch built for an older CUDA",
                "fix_zh": f"请把 NVIDIA 驱动升级到支持 CUDA {build['cuda_build']} 的版本，"
                          "或者安装为更旧的 CUDA 构建的 torch",
            })
    for check in report["checks"]:
        if not check["ok"]:
            error = check["max_abs_error"]
            if check["error"]:
                what = check["error"]
            elif error is not None and math.isnan(error):  # NaN >= tolerance is false: not a float32 failure
                what = "its loss or gradients came out NaN where float64 on the CPU gives numbers"
            elif error is not None and error >= FLOAT32_TOLERANCE:
                what = f"max abs error {error:.2e} > {FLOAT32_TOLERANCE:g}"
            else:  # the numbers agreed; a float32 tensor could not be made or computed with there
                what = "float32 does not work on it"
            found.append({"problem": f"{check['device']} failed its compute check ({what})",
                          "problem_zh": f"{check['device']} 没有通过计算检查（{what}）",
                          "fix": "reinstall torch for this machine; if it persists, report the "
                                 "output of 'torchprimer doctor --json'",
                          "fix_zh": "请为这台机器重新安装 torch；如果问题仍在，"
                                    "请报告 'torchprimer doctor --json' 的输出"})
    return found


def run_doctor(check: Callable[[str, str], DeviceCheck] = check_device) -> dict[str, Any]:
    """Everything the doctor knows, as one JSON-ready dict; `ok` is the verdict."""
    devices = list_devices()
    report: dict[str, Any] = {
        "versions": versions(),
        "build": build_info(),
        "devices": devices,
        "nvidia_driver": nvidia_driver(),
        "torchvision_error": torchvision_works(),
        "executable": sys.executable,
    }
    report["checks"] = [asdict(check(d["device"], d["name"])) for d in devices]
    report["problems"] = problems(report)
    report["notes"] = notes(report)
    report["ok"] = all(c["ok"] for c in report["checks"]) and not report["problems"]
    return report


TEXT = {
    "en": {
        "versions": "versions", "build": "torch build", "optional": "not installed (optional)", "missing": "MISSING",
        "none": "none", "no_driver": "none found",
        "devices": "devices: a real forward + backward on each, against float64 on the CPU",
        "columns": ["device", "name", "max abs error", "float32", "float16", "bfloat16", "GFLOP/s (fp32 matmul)",
                    "check"],
        "yes": "yes", "no": "no", "pass": "pass", "fail": "FAIL", "note": "note:", "problem": "problem:", "fix": "fix:",
        "ok": "verdict: OK[/] — torch {torch} computes correctly on {n} device(s)",
        "bad": "verdict: PROBLEMS FOUND[/] — see the fixes above",
    },
    "zh": {
        "versions": "版本", "build": "torch 的构建信息", "optional": "未安装（可选）", "missing": "缺失",
        "none": "无", "no_driver": "未找到",
        "devices": "设备：在每个设备上真正做一次前向 + 反向计算，与 CPU 上的 float64 结果比较",
        "columns": ["设备", "名称", "最大绝对误差", "float32", "float16", "bfloat16", "GFLOP/s（fp32 矩阵乘）", "检查"],
        "yes": "是", "no": "否", "pass": "通过", "fail": "失败", "note": "注：", "problem": "问题：", "fix": "修复：",
        "ok": "结论：正常[/] —— torch {torch} 在 {n} 个设备上计算正确",
        "bad": "结论：发现问题[/] —— 请看上面的修复方法",
    },
}


def render(report: dict[str, Any], lang: str = "en") -> None:
    """The report as rich tables on the terminal, ending in a verdict line, in English or Chinese. Names,
    versions, commands and library messages stay as they are in both."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = TEXT[lang]
    # Every text from outside (versions, device names, exception messages, paths in the fixes) is escaped: rich
    # reads "[...]" as markup, so an error naming "[/opt/lib]" stopped the doctor with a MarkupError traceback.
    console = Console()
    if not console.is_terminal:  # a pipe or a log: rich would assume 80 columns and cut the device table
        console = Console(width=max(console.width, 120))
    table = Table(title=t["versions"], show_header=False)
    for name, ver in report["versions"].items():
        optional = name in OPTIONAL
        shown = escape(ver) if ver else (f"[dim]{t['optional']}[/]" if optional else f"[red]{t['missing']}[/]")
        table.add_row(name, shown)
    console.print(table)
    b = report["build"]
    table = Table(title=t["build"], show_header=False)
    for key in ["torch", "cuda_build", "cudnn", "blas", "onednn", "cpu_capability", "threads",
                "interop_threads", "cores"]:
        value = cudnn_text(b[key]) if key == "cudnn" else b[key]
        table.add_row(key, escape(str(value)) if value is not None else f"[dim]{t['none']}[/]")
    table.add_row("nvidia driver", escape(report["nvidia_driver"] or "") or f"[dim]{t['no_driver']}[/]")
    console.print(table)
    table = Table(title=t["devices"])
    for col in t["columns"]:
        table.add_column(col)
    for c in report["checks"]:
        mark = {True: f"[green]{t['yes']}[/]", False: f"[red]{t['no']}[/]"}
        err = f"{c['max_abs_error']:.1e}" if c["max_abs_error"] is not None else c["error"] or ""
        table.add_row(
            escape(c["device"]), escape(c["name"]), escape(err), *(mark[c["dtypes"].get(k, False)] for k in DTYPES),
            f"{c['gflops']:.1f}" if c["gflops"] else "",
            f"[green]{t['pass']}[/]" if c["ok"] else f"[red]{t['fail']}[/]",
        )
    console.print(table)
    zh = lang == "zh"
    space = "" if zh else " "  # after Chinese full-width punctuation, no space
    for note in report.get("notes", []):
        console.print(f"[bold]{t['note']}[/]{space}{escape(note['note_zh'] if zh else note['note'])}")
    for p in report["problems"]:
        problem = p.get("problem_zh", p["problem"]) if zh else p["problem"]
        fix = p.get("fix_zh", p["fix"]) if zh else p["fix"]
        console.print(f"[red]{t['problem']}[/]{space}{escape(problem)}\n  [bold]{t['fix']}[/]{space}{escape(fix)}")
    if report["ok"]:
        console.print("[bold green]" + t["ok"].format(torch=escape(b["torch"]), n=len(report["checks"])))
    else:
        console.print("[bold red]" + t["bad"])
