"""The §7 commands from a shell: the seed's example, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import fails, run_cli


def test_backprop_prints_the_right_gradients_and_the_seed_correction() -> None:
    proc = run_cli("backprop")
    assert proc.returncode == 0, proc.stderr
    assert "∂loss/∂w                -2.0           -2.0" in proc.stdout
    assert "∂loss/∂b                -1.0           -1.0" in proc.stdout
    assert "∂loss/∂x                -1.0           -1.0" in proc.stdout
    assert "The seed says w.grad is 4.0" in proc.stdout


def test_backprop_loss_ce_alone_takes_a_probability_target() -> None:
    # the seed's target 3.0 is no probability: --loss ce once failed unless --y was given too
    proc = run_cli("backprop", "--loss", "ce", "--json")
    assert proc.returncode == 0, proc.stderr
    assert '"y": 1.0' in proc.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["activations", "--names", "sigmoid,swish"], "unknown activation 'swish'; known: relu, leaky_relu"),
    (["backprop", "--x", "nan"], "--x nan is not a finite number"),
    (["backprop", "--loss", "ce", "--y", "3"], "--loss ce needs a target probability --y in [0, 1], got 3.0"),
    (["gradcheck", "--module", "torch.nn:Tanh"], "Tanh has no trainable parameters"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("y", ["nan", "inf"])
def test_backprop_ce_with_a_non_finite_target_asks_for_a_probability(
    y: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It once advised '--y 2.0', which --loss ce refuses next: the target is a probability."""
    from torchprimer.cli import main

    with pytest.raises(SystemExit) as done:
        main(["backprop", "--loss", "ce", "--y", y])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1, err
    assert f"--y {y} is not a finite number; --loss ce needs a target probability --y in [0, 1]" in err
    assert "2.0" not in err


# --- gradcheck and graph in English or Chinese (--lang, as backprop) ----------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_ENV = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
NEURON = ["gradcheck", "--model", "neuron", "--dataset", "moons"]  # a quick check with the manual column's note
SEED_TREE = """\
PowBackward0
└── SubBackward0
    └── AddBackward0
        ├── MulBackward0
        │   ├── w (scalar) ← AccumulateGrad
        │   └── x (scalar) ← AccumulateGrad
        └── b (scalar) ← AccumulateGrad
"""


def _out(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 0) -> str:
    """stdout of `torchprimer ARGV` run in this process, which must exit with `code`."""
    from torchprimer.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(argv)
    out, err = capsys.readouterr()
    assert stopped.value.code == code, err
    return out


@pytest.fixture
def zh_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ZH_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("lang", [["--lang", "zh"], []], ids=["--lang zh", "LANG=zh_CN"])
def test_gradcheck_speaks_chinese_under_lang_zh_or_a_chinese_locale(
    lang: list[str], zh_locale: None, capsys: pytest.CaptureFixture[str]
) -> None:
    zh = _out(["gradcheck", *lang], capsys).splitlines()
    en = _out(["gradcheck", "--lang", "en"], capsys).splitlines()
    assert zh[0] == "gradcheck：mlp（隐藏层 32，relu），8 个 digits 样本，损失 ce"
    assert zh[1].split() == ["参数", "形状", "max|grad|", "手算", "vs", "autograd", "绝对/相对", "有限差分", "vs",
                             "autograd", "绝对/相对", "检查的元素", "通过"]
    assert zh[-2] == "torch.autograd.gradcheck（快速模式）：通过"
    assert zh[-1].startswith("所有梯度一致（手算误差不超过 1e-10，有限差分误差不超过 1e-06")
    assert zh[-1].endswith("；eval 模式（关闭 dropout））")
    assert len(zh) == len(en)
    for en_row, zh_row in zip(en[2:-2], zh[2:-2], strict=True):  # the same parameters and numbers, in columns
        assert en_row.split()[:-1] == zh_row.split()[:-1] and (en_row.split()[-1], zh_row.split()[-1]) == ("yes", "是")
    assert not any(word in "\n".join(zh) for word in ("parameter", "shape", "manual", "agree", "passed", "hidden"))


def test_gradcheck_gives_the_manual_columns_reason_in_chinese(capsys: pytest.CaptureFixture[str]) -> None:
    out = _out([*NEURON, "--lang", "zh"], capsys)
    assert "手算一栏：手算反向传播只涵盖 softmax 交叉熵和 MSE，不包括神经元的二元交叉熵" in out and "不适用" in out
    out = _out(["gradcheck", "--module", "torch.nn:PReLU", "--dataset", "moons", "--lang", "zh"], capsys)
    assert "（不含 dropout 或 BatchNorm）；这个模型含有 PReLU\n" in out and "manual backprop" not in out


NET_SOURCE = """
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))

    def forward(self, x):
        return self.body(x)
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_gradcheck_manual_note_names_no_options_and_says_a_class_of_ones_own_is_not_covered(
    lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The note named --dropout and --batchnorm, which gradcheck has not, and gave a custom Net (of Flatten and
    Linear layers) as a layer manual backprop lacks: it reads layers off an nn.Sequential, never inside a class."""
    (tmp_path / "tp_custom_net.py").write_text(NET_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = _out(["gradcheck", "--module", "tp_custom_net:Net", "--dataset", "moons", "--lang", lang], capsys)
    note = {"en": "manual column: manual backprop covers MLPs of torch.nn's Flatten, Linear and activation layers "
                  "in an nn.Sequential, not a module class of its own; this model has Net\n",
            "zh": "不涵盖自定义的模块类；这个模型含有 Net\n"}[lang]
    assert note in out and "--dropout" not in out and "--batchnorm" not in out
    out = _out(["gradcheck", "--model", "cnn", "--entries", "4", "--batch", "2", "--lang", lang], capsys)
    assert ("this model has Conv2d\n" if lang == "en" else "这个模型含有 Conv2d\n") in out and "--dropout" not in out
    # the cnn's batch norm runs in train mode on the 2 samples, the rest in eval mode, and the last line says so
    assert {"en": "; eval mode (dropout off) except batch norm, in train mode: on the batch's own statistics, as "
                  "training computes it)",
            "zh": "；eval 模式（关闭 dropout），BatchNorm 除外：它处于 train 模式，用本批数据自身的统计量，"
                  "与训练时的计算一致）"}[lang] in out.splitlines()[-1]


def test_gradcheck_lang_en_reads_as_before_even_in_a_chinese_locale(
    zh_locale: None, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _out([*NEURON, "--lang", "en"], capsys).splitlines()
    assert lines[:2] == [
        "gradcheck: neuron on 8 moons samples, loss bce",
        "parameter      shape  max|grad|  manual vs autograd abs/rel  finite diff vs autograd abs/rel  entries  ok"]
    assert lines[2].startswith("linear.weight  1x2    ") and lines[2].endswith(" 2/2      yes")
    assert lines[-3:] == [
        "manual column: manual backprop covers softmax cross-entropy and MSE, not the neuron's binary cross-entropy",
        "torch.autograd.gradcheck (fast mode): passed",
        "all gradients agree (manual within 1e-10, finite differences within 1e-06, times max(1, max|grad|); "
        "float64, eps 1e-06; eval mode (dropout off))"]
    assert not CJK.search("\n".join(lines))


@pytest.mark.parametrize("lang", [["--lang", "zh"], []], ids=["--lang zh", "LANG=zh_CN"])
def test_graph_speaks_chinese_under_lang_zh_or_a_chinese_locale(
    lang: list[str], zh_locale: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    zh = _out(["graph", "--out", "zh.dot", *lang], capsys)
    from torchprimer.autodiff.graph import legend

    assert zh == SEED_TREE.replace(" (scalar) ", "（标量）") + f"\n{legend('zh')}\n" + "已写入 zh.dot\n"
    en = _out(["graph", "--out", "en.dot", "--lang", "en"], capsys)
    assert en == SEED_TREE + f"\n{legend('en')}\n" + "wrote en.dot\n"  # as before, also in a Chinese locale
    assert "AccumulateGrad is a tensor with requires_grad=True" in en and "requires_grad=True 的张量" in zh
    # the file's labels read as the tree does (they were English under --lang zh)
    assert 'label="x（标量）← AccumulateGrad"' in (tmp_path / "zh.dot").read_text(encoding="utf-8")
    assert 'label="x (scalar) ← AccumulateGrad"' in (tmp_path / "en.dot").read_text(encoding="utf-8")
    assert "└── 3.weight（10×16）← AccumulateGrad" in _out(["graph", "--model", "mlp", *lang], capsys)


@pytest.mark.parametrize("command", [NEURON, ["graph", "--model", "mlp"]], ids=["gradcheck", "graph"])
def test_json_is_the_same_in_both_languages(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    en = _out([*command, "--json", "--lang", "en"], capsys)
    assert json.loads(en) and en == _out([*command, "--json", "--lang", "zh"], capsys)


@pytest.mark.parametrize("argv", [["gradcheck", "--lang", "fr"], ["graph", "--lang", "fr"],
                                  ["graph", "--lang", "fr", "--json"], [*NEURON, "--lang", "fr", "--json"]])
def test_an_unknown_language_is_refused_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert "--lang 'fr': use en or zh" in fails(argv, capsys)
    assert "error: --lang 'fr'" in fails(["backprop", "--lang", "fr"], capsys)  # as backprop refuses it


def test_backprop_activation_help_names_the_value_the_output_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """The help said y = f(wx + b), but y is the target: the activation's value is a, as the output prints it."""
    words = " ".join(_out(["backprop", "--help"], capsys).replace("│", " ").split())
    assert "Apply a = f(wx + b)" in words and "y = f(" not in words
    assert "  a    = tanh(z) " in _out(["backprop", "--activation", "tanh", "--lang", "en"], capsys)


@pytest.mark.parametrize("flag", ["--hidden", "--activation", "--dataset"])
def test_graph_refuses_an_empty_value_not_drawing_the_default(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert f"{flag} is empty" in fails(["graph", "--model", "mlp", flag, ""], capsys)


def test_gradcheck_refuses_a_loss_its_module_is_not_checked_on(capsys: pytest.CaptureFixture[str]) -> None:
    """PReLU's output (N, 1, 8, 8) has no class scores: `--loss mse` was dropped in silence and the run checked
    a random projection of the output, exit 0, as though the loss asked for had been checked."""
    message = fails(["gradcheck", "--module", "torch.nn:PReLU", "--loss", "mse"], capsys)
    assert message.startswith("error: --loss does nothing with --module torch.nn:PReLU (its output is not (N, classes)")
    assert "leave it out" in message


# --- refusals in the command's language: English by default, Chinese under --lang zh -------------

OPTION = re.compile(r"--[a-z][a-z0-9-]*")
VALUE = re.compile(r"'[^']*'|`[^`]*`|\d+(?:\.\d+)?(?:e[+-]?\d+)?")  # quoted names, commands, numbers


@pytest.fixture
def en_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)


def _says_the_same(en: str, zh: str) -> None:
    """The Chinese line is Chinese, and gives the numbers, quoted values and options the English one gives."""
    assert CJK.search(zh) and not CJK.search(en), (en, zh)
    assert sorted(VALUE.findall(zh)) == sorted(VALUE.findall(en)), (en, zh)
    assert set(OPTION.findall(zh)) == set(OPTION.findall(en)), (en, zh)


@pytest.mark.parametrize(("argv", "english", "chinese"), [
    (["backprop", "--x", "nan"],
     "--x nan is not a finite number; pass a value like --x 2.0",
     "--x nan 不是有限的数；请传入一个像 --x 2.0 这样的值"),
    (["backprop", "--loss", "ce", "--y", "2"],
     "--loss ce needs a target probability --y in [0, 1], got 2.0; e.g. --y 1",
     "--loss ce 需要一个在 [0, 1] 内的目标概率 --y，得到的却是 2.0；例如 --y 1"),
    (["backprop", "--loss", "ce", "--activation", "sigmoid"],
     "--loss ce applies the sigmoid itself (binary cross-entropy with the output as logit), so --activation sigmoid "
     "would apply it twice, a classic bug; leave out --activation sigmoid (the loss's sigmoid makes the neuron a "
     "logistic regression), or use --loss mse",
     "--loss ce 自己就会应用 sigmoid（以输出为 logit 的二元交叉熵），所以 --activation sigmoid 会把 sigmoid 应用两次，"
     "这是一个经典错误；请去掉 --activation sigmoid（损失里的 sigmoid 已让这个神经元成为逻辑回归），或改用 --loss mse"),
    (["backprop", "--activation", "swish"],
     "unknown activation 'swish'; known: relu, leaky_relu, elu, selu, gelu, silu, mish, tanh, sigmoid, softplus, "
     "softsign, hardswish, hardtanh, relu6",
     "未知的激活函数 'swish'；已知的有：relu, leaky_relu, elu, selu, gelu, silu, mish, tanh, sigmoid, softplus, "
     "softsign, hardswish, hardtanh, relu6"),
    (["backprop", "--x", "1e300", "--w", "1e300"],
     "x 1e+300, w 1e+300, b 0.5, y 3: the loss or a gradient is too large for a float64 (above about 1.8e308); "
     "pass values nearer the seed's (x 2, w 1, b 0.5, y 3)",
     "x 1e+300，w 1e+300，b 0.5，y 3：损失或某个梯度太大，超出了 float64 能表示的范围（上限约为 1.8e308）；"
     "请传入更接近原教程例子的值（x 2，w 1，b 0.5，y 3）"),
    (["gradcheck", "--module", "nonsense"],
     "--module 'nonsense': write it as package.module:Name, e.g. torch.nn:PReLU",
     "--module 'nonsense'：请写成 package.module:Name 的形式，例如 torch.nn:PReLU"),
    (["gradcheck", "--module", "torch.nn:Tanh"],
     "Tanh has no trainable parameters, so there is no gradient to check; pass a model with at least one layer "
     "that has weights",
     "Tanh 没有可训练的参数，因此没有可检查的梯度；请传入至少有一层带权重的模型"),
], ids=["non-finite x", "ce target", "sigmoid twice", "unknown activation", "too large", "module spec",
        "no parameters"])
def test_a_refusal_says_the_same_in_english_and_in_chinese(
    argv: list[str], english: str, chinese: str, en_locale: None, capsys: pytest.CaptureFixture[str],
) -> None:
    en = fails(argv, capsys)
    zh = fails([*argv, "--lang", "zh"], capsys)
    assert en == f"error: {english}\n"
    assert zh == f"error: {chinese}\n"
    _says_the_same(en, zh)


def test_graph_without_graphviz_refuses_in_the_commands_language(
    en_locale: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """A picture without Graphviz: the DOT text is kept beside it once, and the refusal says where (or why not),
    and how to install Graphviz, in the command's language."""
    import shutil

    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *args, **kwargs: None if name == "dot" else which(name))
    install = {"en": "install Graphviz (apt install graphviz, brew install graphviz, or conda install graphviz)",
               "zh": "安装 Graphviz（apt install graphviz、brew install graphviz 或 conda install graphviz）"}
    lines = {}
    for lang in ("en", "zh"):
        (tmp_path / lang).mkdir()
        monkeypatch.chdir(tmp_path / lang)
        lines[lang, "new"] = fails(["graph", "--out", "g.png", "--lang", lang], capsys)
        assert (tmp_path / lang / "g.dot").is_file() and not (tmp_path / lang / "g.png").exists()
        lines[lang, "exists"] = fails(["graph", "--out", "g.png", "--lang", lang], capsys)
    assert lines["en", "new"] == (f"error: PNG needs Graphviz's `dot`, which is not installed: {install['en']} and "
                                  "rerun; the graph is in g.dot (new): open it in any DOT viewer, or draw it later "
                                  "with `dot -Tpng g.dot -o g.png`\n")
    assert lines["zh", "new"] == (f"error: PNG 需要 Graphviz 的 `dot`，但它没有安装：请{install['zh']}后重新运行；"
                                  "计算图已保存在 g.dot（新文件）：可以用任意 DOT 查看器打开它，或者之后用 "
                                  "`dot -Tpng g.dot -o g.png` 画出图来\n")
    assert lines["en", "exists"].endswith(
        "rerun; nothing was written (g.dot exists and was left as it is); to keep the graph as text, rerun with --out "
        "NAME.dot, and draw it where Graphviz is with `dot -Tpng NAME.dot -o g.png`\n")
    assert lines["zh", "exists"].endswith(
        "后重新运行；没有写入任何文件（g.dot 已存在，保持原样未动）；要把计算图保存为文本，"
        "请用 --out NAME.dot 重新运行，再在装有 Graphviz 的地方用 `dot -Tpng NAME.dot -o g.png` 画出图来\n")
    for case in ("new", "exists"):
        _says_the_same(lines["en", case], lines["zh", case])


def test_too_large_values_under_ce_are_advised_a_target_ce_takes(capsys: pytest.CaptureFixture[str]) -> None:
    """The advice named the seed's y 3, which --loss ce then refuses (it takes a probability)."""
    err = fails(["backprop", "--loss", "ce", "--x", "1e300", "--w", "1e300"], capsys)
    assert "(x 2, w 1, b 0.5, y 1, a class label, as --loss ce takes)" in err and "y 3)" not in err
    assert "y 1，即 --loss ce 所要的类别标签" in fails(["backprop", "--loss", "ce", "--x", "1e300", "--w", "1e300",
                                                    "--lang", "zh"], capsys)
    assert "(x 2, w 1, b 0.5, y 3)" in fails(["backprop", "--x", "1e300", "--w", "1e300"], capsys)


def test_a_module_with_an_activation_manual_backprop_lacks_is_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """nn.Softmax (or the tanh GELU) inside a plain MLP stopped the whole check; the manual column is now n/a with the
    reason, and autograd is still checked against finite differences, in either language."""
    (tmp_path / "softnet.py").write_text(
        "from torch import nn\n"
        "def Soft():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.Softmax(dim=1), nn.Linear(3, 10))\n"
        "def Gelu():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.GELU(approximate='tanh'), "
        "nn.Linear(3, 10))\n"
        "def Needs(width):\n    return nn.Linear(64, width)\n"
        "def Number():\n    return 3\n")
    monkeypatch.chdir(tmp_path)
    from torchprimer.cli import main

    for spec, note in (("softnet:Soft", "manual column: manual backprop has no derivative for Softmax; use one of:"),
                       ("softnet:Gelu", "manual column: manual backprop knows the exact GELU only")):
        with pytest.raises(SystemExit) as done:
            main(["gradcheck", "--module", spec, "--batch", "2", "--entries", "8"])
        out = capsys.readouterr().out
        assert done.value.code == 0 and note in out and "all gradients agree" in out
    with pytest.raises(SystemExit):
        main(["gradcheck", "--module", "softnet:Soft", "--batch", "2", "--entries", "8", "--lang", "zh"])
    assert "手算一栏：手算反向传播没有 Softmax 的导数" in capsys.readouterr().out
    err = fails(["gradcheck", "--module", "softnet:Needs"], capsys)
    assert "calling Needs() with no arguments failed (" in err and "give its arguments defaults" in err
    err = fails(["gradcheck", "--module", "softnet:Number"], capsys)
    assert "gave an object of type int, not a torch.nn.Module" in err
