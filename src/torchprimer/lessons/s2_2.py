"""§2.2 Verifying the install: what the seed's two prints say on this machine, and a real
computation on every device, which is what `torchprimer doctor` does in full."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, metadata

import torch

from torchprimer.lessons.runner import Run, bilingual

SECTION = "2.2"

TEXT = {
    "en": {
        "title": "Verifying the install",
        "intro": """
The seed checks an install by printing the PyTorch version and whether CUDA is available,
and quotes what its own machine printed: 2.0.1 and True.""",
        "verdict": """
Those two prints describe this machine, not the seed's: the version differs and CUDA is
there or not. They also prove little. `is_available()` says a driver answered, not that a
kernel runs and gives right answers, so the tour runs a small forward and backward pass on
every device and compares it with float64 on the CPU. For the full check (versions of every
dependency, the build, each dtype, throughput, and how to fix what is missing) run
`torchprimer doctor`.

The seed's §2.1 install commands have aged as well. Whether its `python=3.9` environment
can install this torch, torch's own metadata says (the last check reads it: recent releases
ask for a newer Python), and PyTorch stopped publishing to its `-c pytorch` conda channel after 2.5
(announced in pytorch/pytorch#138506). Install with pip, `pip install torch torchvision`
(add `--index-url https://download.pytorch.org/whl/cu126` for a CUDA build), or from
conda-forge: `conda install -c conda-forge pytorch torchvision`.""",
        "fixed_title": "A check that computes something, on every device:",
    },
    "zh": {
        "title": "验证安装",
        "intro": """
原教程检查安装的办法是打印 PyTorch 版本和 CUDA 是否可用，并给出它自己机器上的输出：
2.0.1 和 True。""",
        "verdict": """
这两行输出反映的是本机，而不是原作者的机器：版本号不同，CUDA 也未必有。而且它们证明不了
多少：`is_available()` 只说明驱动有响应，不说明内核真能运行、算得对。所以导览在每个设备上
跑一次小规模的前向和反向传播，并与 CPU 上的 float64 结果比较。完整的检查（所有依赖的
版本、构建信息、各种数据类型、吞吐量，以及缺什么、怎么修）请运行 `torchprimer doctor`。

原教程 §2.1 的安装命令也过时了。它的 `python=3.9` 环境能否装上这个版本的 torch，要看 torch
自己的元数据（最后一项检查会读出来：较新的版本要求更新的 Python）；而且 PyTorch 在 2.5
之后就不再向它的 `-c pytorch` conda 频道发布（见 pytorch/pytorch#138506 的公告）。
请用 pip 安装：`pip install torch torchvision`（CUDA 版本再加
`--index-url https://download.pytorch.org/whl/cu126`），或者从 conda-forge 安装：
`conda install -c conda-forge pytorch torchvision`。""",
        "fixed_title": "真正做一次计算的检查，覆盖每个设备：",
    },
}

SEED = {
    "zh": """\
import torch
print(torch.__version__)  # 输出:2.0.1
print(torch.cuda.is_available())  # 输出:True(GPU可用时)
""",
    "en": """\
import torch
print(torch.__version__)  # prints: 2.0.1
print(torch.cuda.is_available())  # prints: True (when a GPU is usable)
""",
}

FIXED = bilingual(
    """\
from torchprimer.doctor import list_devices, numerics_error
errors = {}
for device in list_devices():
    # loss and gradients of a small net against float64 on the CPU
    errors[device["device"]] = numerics_error(device["device"])
    print(f"{device['device']:<8} {device['name']}: max error {errors[device['device']]:.1e}")
""",
    zh={
        "loss and gradients of a small net against float64 on the CPU":
            "一个小网络的损失和梯度，与 CPU 上的 float64 结果比较",
    },
)

CHECKS = {
    "version": {
        "en": "the seed's first print is this machine's torch.__version__ (the seed's 2.0.1 was its own)",
        "zh": "原教程的第一行输出是本机的 torch.__version__（原教程的 2.0.1 是它自己机器上的）",
    },
    "at_least_2": {
        "en": "PyTorch is 2.0 or newer, as the seed's code requires",
        "zh": "PyTorch 版本不低于 2.0，满足原教程代码的要求",
    },
    "cuda": {
        "en": "the seed's second print matches torch.cuda.is_available() here",
        "zh": "原教程的第二行输出与本机的 torch.cuda.is_available() 一致",
    },
    "computes": {
        "en": "every device computes a small net's loss and gradients within 1e-4 of float64",
        "zh": "每个设备算出的小网络损失和梯度与 float64 的差都在 1e-4 以内",
    },
    "install": {
        "en": "torch's own metadata says whether the seed's §2.1 environment (python=3.9) can install this torch",
        "zh": "torch 自己的元数据说明了原教程 §2.1 的环境（python=3.9）能否安装这个 torch",
    },
}

SEED_PYTHON = (3, 9)  # conda create -n pytorch_env python=3.9, the seed's §2.1


def admits(requires: str, python: tuple[int, int]) -> bool | None:
    """Whether a `Requires-Python` specifier such as '>=3.10' admits `python`, or None when there is none to
    read (a torch built from source has no metadata). The claim used to be "3.9 is too old" outright, which
    failed on torch 2.4-2.8, supported here, that still take 3.9."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        return SpecifierSet(requires).contains(".".join(map(str, python))) if requires.strip() else None
    except InvalidSpecifier:
        return None


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert seed is not None and fixed is not None
    try:
        requires = metadata("torch").get("Requires-Python") or ""
    except PackageNotFoundError:  # a torch built from source, not installed by pip: no metadata to read
        requires = ""
    admitted = admits(requires, SEED_PYTHON)
    lines = seed.stdout.split()
    version = torch.__version__
    major = int(version.split(".")[0])
    cuda = str(torch.cuda.is_available())
    errors: dict[str, float] = fixed.namespace.get("errors", {})
    shown = ", ".join(f"{d}: {e:.1e}" for d, e in errors.items()) or (fixed.error or "")
    seed_python = ".".join(map(str, SEED_PYTHON))
    return {
        "version": (bool(lines) and lines[0] == version, {
            "en": f"printed {lines[:1]}, torch.__version__ = {version!r}",
            "zh": f"打印出 {lines[:1]}，torch.__version__ = {version!r}",
        }),
        "at_least_2": (major >= 2, {"en": f"{version} (seed: 2.0.1)", "zh": f"{version}（原教程：2.0.1）"}),
        "cuda": (len(lines) > 1 and lines[1] == cuda, {
            "en": f"printed {lines[1:2]}, torch.cuda.is_available() = {cuda}",
            "zh": f"打印出 {lines[1:2]}，torch.cuda.is_available() = {cuda}",
        }),
        "computes": (bool(errors) and all(e < 1e-4 for e in errors.values()), shown),
        "install": (admitted is not None, {
            "en": f"torch {version}: Requires-Python {requires!r};  the seed's python={seed_python} "
                  + {True: "can install it", False: "cannot install it", None: "cannot be judged: nothing to read"}[
                      admitted],
            "zh": f"torch {version}：Requires-Python {requires!r}；原教程的 python={seed_python} "
                  + {True: "装得上", False: "装不上", None: "无从判断：没有可读的要求"}[admitted],
        }),
    }
