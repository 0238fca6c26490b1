"""Refusals in Chinese: the commands that speak Chinese (--lang zh, or a Chinese locale) refuse bad
input in Chinese too, and every such refusal says the same thing in both languages.

The structural tests read the source: every UserError raised in those commands' own modules (and in
their bodies in cli.py) carries a `zh=` message, and the two messages interpolate the same values and
name the same options, so a translation cannot drop the number or the flag a learner needs.
"""

from __future__ import annotations

import ast
import builtins
import re
from pathlib import Path

import pytest

from tests.conftest import fails

SRC = Path(__file__).resolve().parents[1] / "src" / "torchprimer"
# The modules behind tour, compare, activations, backprop, gradcheck and graph: their own, and the shared ones
# they reach through their options (--dataset and --data-dir, the fractions, --lr and --optimizer, --plot and
# --out, --model and --hidden). train and the other English commands raise the same refusals in English.
SPEAKING_MODULES = sorted(
    [SRC / "activations.py", SRC / "compare.py", *(SRC / "autodiff").glob("*.py"), *(SRC / "lessons").glob("*.py")]
)
SHARED_MODULES = sorted(
    [SRC / "fileio.py", SRC / "models.py", SRC / "training" / "config.py",
     *(SRC / "data" / f"{name}.py" for name in ("arrays", "augment", "cache", "cifar", "csvfile", "imagefolder",
                                                "mnist", "mnist1d", "npz", "registry", "splits", "toy"))]
)
SPEAKING_COMMANDS = ("tour", "compare", "activations", "backprop", "gradcheck", "graph")
CJK = re.compile(r"[\u4e00-\u9fff]")
OPTION = re.compile(r"--[a-z][a-z0-9-]*")


def _user_errors(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == "UserError"]


def _unused_refusals(tree: ast.AST, name: str = "_refuse_unused") -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id == name]


def _speaking_calls() -> list[tuple[str, ast.Call, str]]:
    """(where, the UserError call, its file's source) for every refusal the speaking commands raise themselves."""
    found = []
    for path in [*SPEAKING_MODULES, *SHARED_MODULES]:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        found += [(f"{path.name}:{call.lineno}", call, text) for call in _user_errors(tree)]
        found += [(f"{path.name}:{call.lineno} (an unused option)", call, text)
                  for call in _unused_refusals(tree, "refuse_unused")]
    cli = SRC / "cli.py"
    text = cli.read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name in SPEAKING_COMMANDS:
            found += [(f"cli.py:{call.lineno} ({node.name})", call, text) for call in _user_errors(node)]
            found += [(f"cli.py:{call.lineno} ({node.name}, an unused option)", call, text)
                      for call in _unused_refusals(node)]
    return found


def _messages(call: ast.Call) -> tuple[ast.expr | None, ast.expr | None]:
    """(English, Chinese) of a UserError(message, zh=...), a _refuse_unused(ctx, names, why, why_zh) or a
    refuse_unused(flags, why, why_zh)."""
    if isinstance(call.func, ast.Name) and call.func.id in ("_refuse_unused", "refuse_unused"):
        at = 2 if call.func.id == "_refuse_unused" else 1
        zh = call.args[at + 1] if len(call.args) > at + 1 else next(
            (k.value for k in call.keywords if k.arg == "why_zh"), None)
        return call.args[at], zh
    return (call.args[0] if call.args else None), next((k.value for k in call.keywords if k.arg == "zh"), None)


ENGLISH_GRAMMAR = {"verb", "pronoun"}  # "does"/"do", "it"/"them": English inflection, which Chinese does not need


def _names(node: ast.AST) -> set[str]:
    """The variables an interpolated value reads; `reason_zh` (or `REASON_ZH`) counts as `reason`, its
    translation."""
    names = {n.id.removesuffix("_zh").removesuffix("_ZH") for n in ast.walk(node) if isinstance(n, ast.Name)}
    return names - ENGLISH_GRAMMAR - set(dir(builtins))  # len() in a plural is grammar too


def _parts(node: ast.expr) -> tuple[str, set[str]]:
    """The literal text of a message and the variables its interpolated values read."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, set()
    if isinstance(node, ast.JoinedStr):
        literal, values = "", set()
        for part in node.values:
            if isinstance(part, ast.Constant):
                literal += part.value
            else:
                values |= _names(part)
        return literal, values
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "..." + "..."
        (a, va), (b, vb) = _parts(node.left), _parts(node.right)
        return a + b, va | vb
    return "", _names(node)  # a name or a call: compared by what it reads


def test_the_speaking_commands_raise_refusals():
    """The scan below finds what it checks (a wrong path or name would make every other test vacuous)."""
    where = {w.split(":")[0] for w in CALLS}
    assert {"activations.py", "compare.py", "runner.py", "check.py", "scalar.py", "cli.py"} <= where
    assert {path.name for path in SHARED_MODULES} <= where, "a shared module without refusals: drop it from the list"
    assert any("(an unused option)" in w and not w.startswith("cli.py") for w in CALLS)


CALLS = {where: (call, source) for where, call, source in _speaking_calls()}


@pytest.mark.parametrize("where", list(CALLS))
def test_every_refusal_of_a_speaking_command_has_its_chinese(where: str):
    call, _ = CALLS[where]
    en, zh = _messages(call)
    assert en is not None, f"{where}: a refusal without its English message"
    en_text, en_values = _parts(en)
    if zh is None and CJK.search(en_text):  # said in both languages at once (--lang's own refusal)
        return
    assert zh is not None, f"{where}: a refusal without its Chinese (zh= or why_zh)"
    zh_text, zh_values = _parts(zh)
    if not en_text and not zh_text:  # a message built beforehand, UserError(busy, zh=busy_zh): its twin by name
        twins = {n.id for n in ast.walk(zh) if isinstance(n, ast.Name)}
        assert any(name.lower().endswith("_zh") for name in twins), f"{where}: zh= is not a *_zh twin: {twins}"
    else:
        assert CJK.search(zh_text), f"{where}: zh= holds no Chinese: {zh_text!r}"
    assert zh_values == en_values, f"{where}: the two messages interpolate different values"
    assert set(OPTION.findall(zh_text)) == set(OPTION.findall(en_text)), f"{where}: they name different options"


@pytest.mark.parametrize("argv,english,chinese", [
    (["tour", "9"], "no lesson '9'; the lessons are", "没有课程 '9'；现有的课程是"),
    (["tour", "2.1"], "no lesson '2.1': §2.1's conda commands", "没有课程 '2.1'：§2.1 的 conda 命令"),
])
def test_a_refusal_is_printed_in_the_commands_language(argv, english, chinese, capsys, monkeypatch):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert english in fails(argv, capsys)
    assert chinese in fails([*argv, "--lang", "zh"], capsys)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")  # a Chinese locale chooses Chinese, as it does for the text
    assert chinese in fails(argv, capsys)
    assert english in fails([*argv, "--lang", "en"], capsys)


def test_a_command_without_chinese_stays_english_after_one_that_spoke_it(capsys, monkeypatch):
    """main can run twice in one process (tests, notebooks): a later English command is not printed
    in the language an earlier command chose."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert CJK.search(fails(["tour", "9", "--lang", "zh"], capsys))
    assert not CJK.search(fails(["train", "--epochs", "0"], capsys))


def test_a_bad_lang_is_refused_in_both_languages(capsys):
    err = fails(["tour", "1", "--lang", "fr"], capsys)
    assert "use en or zh" in err and "请用 en 或 zh" in err


@pytest.mark.parametrize("argv,english,chinese", [
    (["compare", "--dataset", "nope"], "unknown data set 'nope'; known data sets: digits", "没有名为 'nope' 的数据集"),
    (["compare", "--dataset", "mnist", "--data-dir", "EMPTY"], "mnist: missing train-images-idx3-ubyte",
     "中缺少 train-images-idx3-ubyte"),
    (["compare", "--methods", "logreg", "--epochs", "3"], "--epochs does nothing with --methods logreg",
     "--epochs 在使用 --methods logreg 时不起作用"),
    (["activations", "--depth", "3"], "--depth does nothing without --train", "--depth 不加 --train 时不起作用"),
    (["gradcheck", "--model", "cnn", "--hidden", "3"], "--hidden does nothing with --model cnn",
     "--hidden 在使用 --model cnn 时不起作用（--hidden 只用于 mlp"),
    (["graph", "--dataset", "digits"], "--dataset only shapes the graph of a --model",
     "--dataset 只作用于 --model 的计算图"),
    (["tour", "1", "--all"], "give a lesson number or --all, not both", "请给出课程编号或 --all"),
    (["graph", "--model", "nope"], "unknown model 'nope'; known models: neuron", "没有名为 'nope' 的模型"),
    (["gradcheck", "--hidden", "abc"], "--hidden 'abc' is not a list of whole numbers",
     "--hidden 'abc' 不是像 256,128 这样的整数列表"),
    (["graph", "--model", "mlp", "--hidden", "0"], "--hidden '0': every layer needs at least 1 unit",
     "--hidden '0'：每一层至少需要 1 个单元"),
    (["gradcheck", "--activation", "foo"], "unknown activation 'foo'; known: relu",
     "未知的激活函数 'foo'；已知的有：relu"),
])
def test_refusals_shared_with_other_commands_speak_chinese_there(argv, english, chinese, capsys, monkeypatch, tmp_path):
    """The data, device and unused-option refusals the speaking commands share with train are translated too."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    argv = [str(tmp_path) if word == "EMPTY" else word for word in argv]
    assert english in fails(argv, capsys)
    zh = fails([*argv, "--lang", "zh"], capsys)
    assert chinese in zh and CJK.search(zh)


def test_no_cuda_is_said_in_chinese(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert "torch sees no CUDA device" in fails(["compare", "--device", "cuda"], capsys)
    assert "torch 在这里看不到 CUDA 设备" in fails(["compare", "--device", "cuda", "--lang", "zh"], capsys)
    assert "torch sees no CUDA device" in fails(["train", "--device", "cuda"], capsys)  # train speaks English


@pytest.mark.parametrize("argv,english,chinese", [
    (["tour", "--foo"], "No such option: --foo (see 'torchprimer tour --help')",
     "没有 --foo 这个选项；请看 'torchprimer tour --help'"),
    (["tour", "--jsn"], "No such option: --jsn (Possible options: --json)",
     "没有 --jsn 这个选项（可用的相近选项：--json）"),
    (["compare", "--epochs", "abc"], "Invalid value for '--epochs': Input should be a valid integer",
     "'--epochs' 的值无效：应为整数，无法把这个字符串解析为整数；请看 'torchprimer compare --help'"),
    (["gradcheck", "--batch", "0"], "Invalid value for '--batch': Input should be greater than or equal to 1",
     "'--batch' 的值无效：应大于或等于 1"),
    (["backprop", "--x", "abc"], "Invalid value for '--x': Input should be a valid number", "'--x' 的值无效：应为数字"),
    (["tour", "1", "2"], "Got unexpected extra argument", "多出了参数（2）"),
])
def test_the_option_parsers_refusals_speak_the_commands_language(argv, english, chinese, capsys, monkeypatch):
    """click refuses before the command runs and chooses its language, so the language is read off the words typed:
    --lang, else the locale, as the command itself would choose."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert english in fails(argv, capsys)
    assert chinese in fails([*argv, "--lang", "zh"], capsys)
    assert chinese in fails([*argv, "--lang=zh"], capsys)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert chinese in fails(argv, capsys)
    assert english in fails([*argv, "--lang", "en"], capsys)


def test_the_option_parser_speaks_english_for_commands_without_lang(capsys, monkeypatch):
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert "Invalid value for '--epochs'" in fails(["train", "--epochs", "0"], capsys)
    assert "No such option: --lang" in fails(["train", "--lang", "zh"], capsys)


def test_an_unlisted_parser_wording_keeps_its_english_detail():
    from torchprimer.errors import usage_in_chinese

    assert usage_in_chinese("Invalid value for '--x': something new") == "'--x' 的值无效：something new"
    assert usage_in_chinese("a sentence click has not said before") is None
