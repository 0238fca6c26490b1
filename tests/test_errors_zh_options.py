"""Refusals in Chinese from the modules the speaking commands share with train: the training options
(training/config.py), the models (models.py) and the output files (fileio.py). compare, activations --train,
graph and gradcheck reach them, so a learner reading those commands in Chinese meets their refusals in Chinese,
saying the same thing as the English, with the same options, values and numbers (tests/test_errors_zh.py checks
every refusal of these modules from the source)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import refused_in_both_languages, says_the_same_in_chinese

from torchprimer.errors import UserError

# what the Chinese keeps as the English has it: options, values quoted without spaces, numbers, and the words in NAMES
KEPT = re.compile(r"--[a-z][a-z0-9-]*|'[^'\s]*'|\d+(?:[,.]\d+)*|(?<![A-Za-z0-9_-])[a-z][a-z0-9_-]*")
NAMES = {"sgd", "adam", "adamw", "mlp", "linear", "neuron", "cnn", "png", "dot", "gv", "svg"}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, so that a default output path (runs/...) is checked there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("argv", "english", "chinese"), [
    (["activations", "--train", "--lr", "-1"], "--lr -1.0 must be greater than 0; try --lr 0.001",
     "--lr -1.0 必须大于 0；可以试试 --lr 0.001"),
    (["activations", "--train", "--lr", "inf"], "--lr inf must be a finite number; try --lr 0.001",
     "--lr inf 必须是有限的数；可以试试 --lr 0.001"),
    (["activations", "--train", "--optimizer", "nope"], "unknown optimizer 'nope'; use one of sgd, adam, adamw",
     "未知的优化器 'nope'；请使用以下之一：sgd, adam, adamw"),
], ids=["lr below 0", "lr infinite", "optimizer"])
def test_activations_train_refuses_a_training_option_in_both_languages(
    argv: list[str], english: str, chinese: str, here: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    en, zh = refused_in_both_languages(argv, capsys, monkeypatch)
    assert (en, zh) == (f"error: {english}\n", f"error: {chinese}\n")
    says_the_same_in_chinese(en, zh, KEPT, NAMES)
    assert list(here.iterdir()) == []  # refused before any training or writing


@pytest.mark.parametrize(("argv", "english", "chinese"), [
    (["compare", "--plot", "out.txt"], "--plot out.txt: the file is written as a PNG file, so its name must end in "
     ".png (any case), e.g. --plot out.png",
     "--plot out.txt：该文件以 PNG 格式写入，所以文件名必须以 .png 结尾（不区分大小写），例如 --plot out.png"),
    (["activations", "--plot", "out.txt"], "--plot out.txt: the file is written as a PNG file, so its name must end "
     "in .png (any case), e.g. --plot out.png",
     "--plot out.txt：该文件以 PNG 格式写入，所以文件名必须以 .png 结尾（不区分大小写），例如 --plot out.png"),
    (["graph", "--out", "x.bad"], "--out x.bad: the file takes its format from its name, which must end in .dot, "
     ".gv, .png or .svg (any case), e.g. --out x.dot",
     "--out x.bad：该文件的格式由文件名决定，文件名必须以 .dot, .gv, .png 或 .svg 结尾（不区分大小写），"
     "例如 --out x.dot"),
    (["compare", "--plot", "notes.txt/chart.png"], "cannot write notes.txt/chart.png: notes.txt is a file, not a "
     "folder; choose another path with --plot",
     "无法写入 notes.txt/chart.png：notes.txt 是一个文件，不是文件夹；请用 --plot 换一个路径"),
    (["compare", "--plot", "pictures"], "cannot write pictures: Is a directory; choose another path, e.g. "
     "pictures/compare-digits.png",
     "无法写入 pictures：这是一个文件夹；请换一个路径，例如 pictures/compare-digits.png"),
    (["activations", "--train", "--out", "notes.txt/race"], "cannot make the folder notes.txt/race: notes.txt is a "
     "file, not a folder; choose another path with --out",
     "无法创建文件夹 notes.txt/race：notes.txt 是一个文件，不是文件夹；请用 --out 换一个路径"),
], ids=["compare png", "activations png", "graph suffixes", "under a file", "a folder", "folder under a file"])
def test_an_output_path_is_refused_in_both_languages(
    argv: list[str], english: str, chinese: str, here: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    (here / "notes.txt").write_text("mine\n", encoding="utf-8")
    (here / "pictures").mkdir()
    en, zh = refused_in_both_languages(argv, capsys, monkeypatch)
    assert (en, zh) == (f"error: {english}\n", f"error: {chinese}\n")
    says_the_same_in_chinese(en, zh, KEPT, NAMES)
    assert sorted(p.name for p in here.iterdir()) == ["notes.txt", "pictures"]


@pytest.mark.parametrize("command", ["graph", "gradcheck"])
def test_a_neuron_for_ten_classes_is_refused_in_both_languages(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    en, zh = refused_in_both_languages([command, "--model", "neuron", "--dataset", "digits"], capsys, monkeypatch)
    assert en == ("error: model 'neuron' is a single sigmoid unit for two classes, but this data set has 10 classes; "
                  "use --model linear or --model mlp\n")
    assert zh == ("error: 模型 'neuron' 是只用于两个类别的单个 sigmoid 单元，但这个数据集有 10 个类别；"
                  "请用 --model linear 或 --model mlp\n")
    says_the_same_in_chinese(en, zh, KEPT, NAMES)


def test_a_model_too_big_for_memory_is_refused_in_both_languages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("torchprimer.models.physical_memory", lambda: 2**30)
    en, zh = refused_in_both_languages(["graph", "--model", "mlp", "--hidden", "30000,30000"], capsys, monkeypatch)
    assert en == ("error: this mlp would have 902,280,010 parameters: 13.4 GiB to train (weights, gradients, Adam's "
                  "state), more than this machine's 1.0 GiB; use fewer or smaller hidden layers (e.g. --hidden 128)\n")
    assert zh == ("error: 这个 mlp 会有 902,280,010 个参数：训练（权重、梯度和 Adam 的状态）需要 13.4 GiB，"
                  "超过了这台机器的 1.0 GiB；请用更少或更小的隐藏层（例如 --hidden 128）\n")
    says_the_same_in_chinese(en, zh, KEPT, NAMES)


def test_too_many_hidden_units_are_refused_in_both_languages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    en, zh = refused_in_both_languages(["gradcheck", "--hidden", "1000001"], capsys, monkeypatch)
    assert en == ("error: --hidden '1000001': at most 1,000 layers of at most 1,000,000 units each, "
                  "e.g. 128 or 256,128\n")
    assert zh == "error: --hidden '1000001'：最多 1,000 层，每层最多 1,000,000 个单元，例如 128 或 256,128\n"
    says_the_same_in_chinese(en, zh, KEPT, NAMES)


def _refused(call, *args, **kwargs) -> UserError:
    with pytest.raises(UserError) as refused:
        call(*args, **kwargs)
    return refused.value


def test_the_options_a_run_would_ignore_are_refused_in_chinese_too() -> None:
    """No speaking command passes these options, but make_config's refusals carry their Chinese all the same."""
    from torchprimer.training.config import make_config, refuse_unused_options

    refused = _refused(make_config, optimizer="adam", momentum=0.5)
    assert str(refused) == ("--momentum does nothing with --optimizer adam: it is SGD's (Adam keeps its own moving "
                            "averages, set by its betas); leave it out")
    assert refused.zh == ("--momentum 在使用 --optimizer adam 时不起作用：它是 SGD 的选项（Adam 有自己的滑动平均，"
                          "由它的 betas 设定）；请去掉它")
    refused = _refused(make_config, model="cnn", hidden=(64,), batchnorm=True)
    assert str(refused).startswith("--hidden, --batchnorm do nothing for --model cnn (its conv blocks")
    assert refused.zh == ("--hidden、--batchnorm 对 --model cnn 不起作用（它的卷积块是固定的，并且总是做批归一化）；"
                          "请去掉它们")
    refused = _refused(make_config, model="linear", hidden=(64,))
    assert refused.zh == "--hidden 对 --model linear 不起作用（它没有隐藏层）；请去掉它"
    refused = _refused(refuse_unused_options, make_config(schedule="onecycle"), {"warmup"})
    assert refused.zh == ("--warmup 0 在使用 --schedule onecycle 时不起作用，因为它此时会用自己的 30% 步数来预热"
                          "（不要预热请用 --schedule cosine）；请去掉它")


def test_a_bad_training_value_is_refused_in_chinese_too() -> None:
    from torchprimer.training.config import TrainConfig, make_config

    assert _refused(make_config, nesterov=True).zh == ("--nesterov 是 SGD 动量的一种，而 --optimizer adam 不使用动量；"
                                                       "请去掉 --nesterov，或者改用 --optimizer sgd --momentum 0.9")
    refused = _refused(make_config, nesterov=True, optimizer="sgd", momentum=0.0)
    assert str(refused) == ("--nesterov is a kind of SGD momentum, which --optimizer sgd with --momentum 0 does not "
                            "use; leave --nesterov out, or use --momentum 0.9")
    assert refused.zh == ("--nesterov 是 SGD 动量的一种，而 --momentum 0 时的 --optimizer sgd 不使用动量；"
                          "请去掉 --nesterov，或者改用 --momentum 0.9")
    assert _refused(make_config, warmup=1.5).zh == "--warmup 1.5 是占全部步数的比例：请用 [0, 1) 内的值"
    assert _refused(make_config, epochs=0).zh == "--epochs 0 必须大于 0；可以试试 --epochs 10"
    refused = _refused(make_config, epoch=3)
    assert (str(refused), refused.zh) == ("unknown training option(s) ['epoch']; see 'torchprimer train --help'",
                                          "未知的训练选项 ['epoch']；请看 'torchprimer train --help'")
    refused = _refused(TrainConfig.from_dict, {"epoch": 3})
    assert str(refused) == ("config has unknown options ['epoch']; was it written by a newer torchprimer? "
                            "Upgrade torchprimer to read it")
    assert refused.zh == ("配置中有未知的选项 ['epoch']；它是不是由更新版本的 torchprimer 写的？"
                          "请升级 torchprimer 再读取它")
    assert _refused(TrainConfig.from_dict, {"hidden": "abc"}).zh == "选项 'hidden' 的值是 'abc'，而它应为整数列表"
    refused = _refused(TrainConfig.from_dict, {"amp": "no"})
    assert refused.zh == "选项 'amp' 的值是 'no'，而它应为布尔值（true 或 false）"


def test_a_model_that_cannot_be_built_is_refused_in_chinese_too() -> None:
    from torchprimer.models import ModelSpec, build_model, parameter_count

    refused = _refused(parameter_count, ModelSpec(name="cnn"), (2, 3, 4, 5), 3)
    assert str(refused) == ("model 'cnn' needs images (C,H,W) or signals (C,L), got shape (2, 3, 4, 5); use "
                            "--model mlp or linear, which flatten any shape")
    assert refused.zh == ("模型 'cnn' 需要图像 (C,H,W) 或信号 (C,L)，得到的形状却是 (2, 3, 4, 5)；"
                          "请用 --model mlp 或 linear，它们能把任何形状展平")
    assert _refused(build_model, ModelSpec(dropout=1.5), (1, 8, 8), 10).zh == (
        "--dropout 1.5 必须在 [0, 1) 内（丢弃的单元所占比例），例如 --dropout 0.2")


def test_a_callers_own_advice_for_a_model_too_big_is_said_in_its_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command passes its own options as advice; with no Chinese for it the Chinese quotes the English."""
    from torchprimer.models import ModelSpec, build_model

    monkeypatch.setattr("torchprimer.models.physical_memory", lambda: 1000)
    spec = ModelSpec(hidden=(64,))
    refused = _refused(build_model, spec, (1, 8, 8), 10, "use a smaller --width or --depth",
                       too_big_advice_zh="请用更小的 --width 或 --depth", per_parameter=(44, "to check", "检查"))
    assert str(refused).endswith("GiB to check, more than this machine's 0.0 GiB; use a smaller --width or --depth")
    assert refused.zh.endswith("检查需要 0.0 GiB，超过了这台机器的 0.0 GiB；请用更小的 --width 或 --depth")
    refused = _refused(build_model, spec, (1, 8, 8), 10, "use a smaller --width or --depth")
    assert refused.zh.endswith("；use a smaller --width or --depth")


def test_file_refusals_no_command_of_the_cli_reaches_have_their_chinese(tmp_path: Path) -> None:
    from torchprimer.fileio import check_output_file, check_readable, folder_lock, make_dirs

    refused = _refused(check_readable, tmp_path, "checkpoint", "检查点")
    assert str(refused) == f"cannot read the checkpoint {tmp_path}: Is a directory; check its permissions"
    assert refused.zh == f"检查点 {tmp_path} 无法读取：Is a directory；请检查它的权限"
    assert _refused(check_output_file, "", "--out", (".png",), "x.png").zh == (
        "--out 没有给出文件名（它是空的）；请给出一个文件名，例如 --out x.png")
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert _refused(make_dirs, tmp_path / "notes.txt" / "runs").zh == (
        f"无法创建文件夹 {tmp_path / 'notes.txt' / 'runs'}：{tmp_path / 'notes.txt'} 是一个文件，不是文件夹；"
        "请换一个路径")
    with folder_lock(tmp_path, "busy", "忙"):
        refused = _refused(lambda: folder_lock(tmp_path, "the run is busy", "这个运行正忙").__enter__())
        assert (str(refused), refused.zh) == ("the run is busy", "这个运行正忙")
