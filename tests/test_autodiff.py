"""Backpropagation by hand: the seed's example, local derivatives, whole MLPs, gradcheck, graph."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from torchprimer.autodiff import gradcheck, manual_backward, manual_forward_backward, worked_example
from torchprimer.autodiff import graph as tpgraph
from torchprimer.autodiff.check import load_module
from torchprimer.autodiff.local import rule
from torchprimer.autodiff.scalar import render
from torchprimer.cli import main
from torchprimer.errors import UserError
from torchprimer.models import ACTIVATIONS, ModelSpec, Objective, build_mlp, build_model

KINKS = [0.0, -1.0, 1.0, -3.0, 3.0, 6.0, 20.0]


# --- the seed's §7.2 example -----------------------------------------------------------

def test_seed_example_gives_minus_two_not_four() -> None:
    result = worked_example()
    assert result["manual"] == {"loss": 0.25, "w": -2.0, "b": -1.0, "x": -1.0}
    assert result["autograd"] == result["manual"] and result["match"]
    forward = {s["name"]: s["value"] for s in result["forward"]}
    assert forward == {"wx": 2.0, "z": 2.5, "r": -0.5, "loss": 0.25}
    products = {(c["of"], c["via"]): c["product"] for c in result["chain"]}
    assert products[("w", "wx")] == -2.0 and products[("b", "z")] == -1.0 and products[("x", "wx")] == -1.0
    assert "4.0" in result["seed_note"] and "−0.5" in result["seed_note"]
    text = render(result)
    assert "∂loss/∂w                -2.0           -2.0" in text and "note: The seed says w.grad is 4.0" in text


ENGLISH_LABELS = ("inputs", "forward", "local derivatives", "chain rule", "result", "manual and autograd agree",
                  "MISMATCH", "note:", "The seed says")
NUMBER = re.compile(r"[-+−]?\d+(?:\.\d+)?(?:e[-+]\d+)?")


@pytest.mark.parametrize(("kwargs", "seed"), [
    ({}, True),
    ({"x": 0.7, "y": 0.8, "w": -1.3, "b": 0.4, "activation": "tanh", "loss": "ce"}, False),
])
def test_render_in_chinese_has_the_same_steps_and_numbers_and_no_english(kwargs: dict, seed: bool) -> None:
    result = worked_example(**kwargs)
    en, zh = render(result), render(result, lang="zh")
    assert render(result, lang="en") == en
    assert not any(label in zh for label in ENGLISH_LABELS)
    assert "前向计算" in zh and "局部导数" in zh and "链式法则" in zh and "手算结果与 autograd 完全一致" in zh
    assert ("注：原教程说 w.grad 是 4.0" in zh) is seed and ("note: The seed says" in en) is seed
    # one line for one line, every computed number the same and in the same place
    assert len(en.splitlines()) == len(zh.splitlines())
    for en_line, zh_line in zip(en.splitlines(), zh.splitlines(), strict=True):
        if en_line.startswith("note: "):  # prose: the same numbers, not necessarily in the same order
            assert sorted(NUMBER.findall(en_line)) == sorted(NUMBER.findall(zh_line))
        else:
            assert NUMBER.findall(en_line) == NUMBER.findall(zh_line), (en_line, zh_line)
    assert "  ∂loss/∂w                -2.0           -2.0" in zh.splitlines() or not seed


def test_render_lines_up_the_chinese_result_table() -> None:
    from torchprimer.report import display_width

    lines = render(worked_example(), lang="zh").splitlines()
    header = next(line for line in lines if line.startswith("结果"))
    row = lines[lines.index(header) + 2]
    assert row == "  ∂loss/∂w                -2.0           -2.0"
    assert display_width(header) == len(row)  # the headings end where the numbers end, in terminal columns
    with pytest.raises(UserError, match="en or zh"):
        render(worked_example(), lang="fr")


def test_a_zero_product_is_printed_without_a_sign() -> None:
    """ReLU at z < 0: ∂loss/∂z = -6.0 · 0.0, which IEEE makes -0.0; a learner should read 0.0."""
    text = render(worked_example(activation="relu", b=-2.0))
    assert "= -6.0 · 0.0 = 0.0" in text and "-0.0" not in text


def test_other_values_have_no_seed_note() -> None:
    result = worked_example(x=1.5, y=-1.0, w=0.3, b=0.0)
    assert "seed_note" not in result and result["match"]
    assert result["manual"]["w"] == pytest.approx(2 * (0.3 * 1.5 + 1.0) * 1.5)


# every pair but sigmoid with ce, which is refused: the loss applies the sigmoid itself (see the bad inputs below)
@pytest.mark.parametrize(("activation", "loss"), [(a, loss) for loss in ("mse", "ce") for a in ACTIVATIONS
                                                  if (a, loss) != ("sigmoid", "ce")])
def test_worked_example_with_every_activation_and_loss_matches_autograd(activation: str, loss: str) -> None:
    result = worked_example(x=0.7, y=0.8 if loss == "ce" else 3.0, w=-1.3, b=0.4, activation=activation, loss=loss)
    assert result["match"]
    for key in ("w", "b", "x"):
        assert result["manual"][key] == pytest.approx(result["autograd"][key], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"x": math.nan}, "--x nan is not a finite number"),
    ({"w": math.inf}, "--w inf is not a finite number"),
    ({"activation": "swish"}, "known: relu"),
    ({"loss": "hinge"}, "mse, ce"),
    ({"loss": "ce", "y": 3.0}, "in [0, 1]"),
    ({"loss": "ce", "activation": "sigmoid", "y": 1.0}, "would apply it twice"),
    ({"w": 1e200}, "too large for a float64"),  # Python floats raise OverflowError here
    ({"w": 1e308, "b": 1e308}, "too large for a float64"),  # torch's side gives inf, not an error
])
def test_bad_example_inputs_are_user_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        worked_example(**kwargs)


# --- local derivatives ------------------------------------------------------------------

@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_local_derivative_equals_autograd_everywhere_including_kinks(name: str) -> None:
    _, f, d = rule(name)
    x = torch.cat([torch.linspace(-30, 30, 6001, dtype=torch.float64), torch.tensor(KINKS, dtype=torch.float64)])
    xg = x.clone().requires_grad_(True)
    module = ACTIVATIONS[name]()
    (expected,) = torch.autograd.grad(module(xg).sum(), xg)
    torch.testing.assert_close(f(x), module(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(d(x), expected, rtol=1e-10, atol=1e-10)


# --- manual backprop through whole MLPs -------------------------------------------------

def _autograd_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    out = model(x)
    if loss == "ce":
        value = nn.functional.cross_entropy(out, y)
    else:
        value = nn.functional.mse_loss(out, nn.functional.one_hot(y, out.shape[1]).to(out.dtype))
    value.backward()
    return [p.grad.clone() for p in model.parameters()], value.detach()


@settings(max_examples=60, deadline=None)
@given(
    activation=st.sampled_from(list(ACTIVATIONS)),
    loss=st.sampled_from(["ce", "mse"]),
    hidden=st.lists(st.integers(1, 9), min_size=0, max_size=4),
    input_shape=st.sampled_from([(3,), (1, 4, 4), (2, 3), (7,)]),
    classes=st.integers(2, 6),
    batch=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1),
)
def test_manual_backward_equals_autograd_in_float64(
    activation: str, loss: str, hidden: list[int], input_shape: tuple[int, ...], classes: int, batch: int, seed: int,
) -> None:
    torch.manual_seed(seed)
    model = build_mlp(input_shape, classes, ModelSpec(hidden=tuple(hidden), activation=activation)).double()
    x = torch.randn(batch, *input_shape, dtype=torch.float64) * 2
    y = torch.randint(0, classes, (batch,))
    expected, expected_loss = _autograd_grads(model, x, y, loss)
    model.zero_grad(set_to_none=True)
    value = manual_backward(model, x, y, loss)
    assert abs(float(value) - float(expected_loss)) <= 1e-12 * max(1.0, abs(float(expected_loss)))
    for p, g in zip(model.parameters(), expected, strict=True):
        assert float((p.grad - g).abs().max()) <= 1e-10 * max(1.0, float(g.abs().max()))


def test_manual_backward_accumulates_and_handles_label_smoothing() -> None:
    torch.manual_seed(0)
    model = build_mlp((5,), 4, ModelSpec(hidden=(6, 6), activation="gelu")).double()
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 4, (8,))
    objective = Objective(binary=False, label_smoothing=0.1)
    objective.loss(model(x), y).backward()
    objective.loss(model(x), y).backward()  # autograd adds into .grad
    twice = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    manual_backward(model, x, y, objective)
    output, _ = manual_forward_backward(model, x, y, objective)
    torch.testing.assert_close(output, model(x).detach())
    for p, g in zip(model.parameters(), twice, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("spec", [
    ModelSpec(hidden=(4,), dropout=0.1), ModelSpec(hidden=(4,), batchnorm=True), ModelSpec(name="cnn"),
])
def test_manual_backward_refuses_what_it_cannot_differentiate(spec: ModelSpec) -> None:
    model = build_model(spec, (1, 8, 8), 3)
    with pytest.raises(UserError, match="manual backprop"):
        manual_backward(model, torch.randn(2, 1, 8, 8), torch.tensor([0, 1]))


def test_manual_backward_refuses_the_binary_neuron_and_unknown_losses() -> None:
    model = build_mlp((3,), 2, ModelSpec(hidden=(2,)))
    with pytest.raises(UserError, match="binary"):
        manual_backward(model, torch.randn(2, 3), torch.tensor([0, 1]), Objective(binary=True))
    with pytest.raises(UserError, match="unknown loss"):
        manual_backward(model, torch.randn(2, 3), torch.tensor([0, 1]), "hinge")


# --- gradcheck --------------------------------------------------------------------------

def test_gradcheck_agrees_three_ways_on_an_mlp() -> None:
    torch.manual_seed(0)
    model = build_mlp((1, 8, 8), 10, ModelSpec(hidden=(12, 8), activation="tanh"))
    report = gradcheck(model, torch.randn(6, 1, 8, 8), torch.randint(0, 10, (6,)), max_coords=64)
    assert report["ok"] and report["manual_available"] and report["torch_gradcheck"]
    assert [r["parameter"] for r in report["rows"]] == ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight",
                                                        "5.bias"]
    assert all(r["manual"]["max_abs"] <= 1e-12 and r["finite_diff"]["max_abs"] < 1e-6 for r in report["rows"])
    assert all(p.dtype == torch.float32 and p.grad is None for p in model.parameters())  # caller's model untouched


def test_gradcheck_works_on_any_module_and_catches_a_wrong_gradient() -> None:
    class WrongSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):  # type: ignore[no-untyped-def]
            (x,) = ctx.saved_tensors
            return grad * 3 * x  # wrong: should be 2x

    class Buggy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return WrongSquare.apply(self.linear(x))

    torch.manual_seed(0)
    good = gradcheck(nn.Sequential(nn.Linear(3, 4), nn.Tanh()), torch.randn(5, 3), max_coords=16)
    assert good["ok"] and not good["manual_available"] and good["loss"] == "random projection of the output"
    bad = gradcheck(Buggy(), torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1]))
    assert not bad["ok"] and not bad["torch_gradcheck"]


def test_gradcheck_checks_batch_norm_on_batch_statistics_as_training_does() -> None:
    """In training, batch norm subtracts the batch mean, so a bias just before it gets exactly no
    gradient; on running statistics (eval mode) it would get one. The check uses what training uses,
    except for a single sample, which has no batch statistics, and says which."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 2))
    x, y = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    report = gradcheck(model, x, y)
    rows = {r["parameter"]: r for r in report["rows"]}
    assert report["ok"] and "batch norm, in train mode: on the batch's own statistics" in report["mode"]
    assert rows["0.bias"]["grad_max"] < 1e-12 and rows["0.weight"]["grad_max"] > 1e-3
    assert model.training and model[1].num_batches_tracked == 0  # the caller's model is not touched
    one = gradcheck(model, x[:1], y[:1])
    assert one["ok"] and "running statistics" in one["mode"]


def test_gradcheck_footer_says_the_mode_each_module_really_ran_in() -> None:
    """The footer read "eval mode (dropout off), batch norm on the batch's own statistics": in eval mode batch norm
    uses its running statistics. The modules' own `training` flags, seen by a hook as each runs, say what happens:
    everything in eval mode but batch norm, in train mode from 2 samples up, in eval mode for one."""
    from torchprimer.autodiff import check

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.5), nn.Linear(3, 2))
    seen: dict[str, set[bool]] = {}
    for module in model.modules():  # the hooks travel with gradcheck's float64 copy
        module.register_forward_pre_hook(lambda m, _: seen.setdefault(type(m).__name__, set()).add(m.training))
    x, y = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    for rows in (8, 1):
        seen.clear()
        report = gradcheck(model, x[:rows], y[:rows], max_coords=4)
        footer, zh = check.render(report).splitlines()[-1], check.render(report, lang="zh").splitlines()[-1]
        assert all(seen[name] == {False} for name in ("Sequential", "Linear", "ReLU", "Dropout")), seen
        in_train_mode = seen["BatchNorm1d"] == {True}
        assert in_train_mode == (rows > 1)
        assert ("train mode" in footer) == in_train_mode and ("train 模式" in zh) == in_train_mode
        if in_train_mode:  # train mode: normalised by the batch's own mean and variance, as training does
            assert footer.endswith("; eval mode (dropout off) except batch norm, in train mode: on the batch's own "
                                   "statistics, as training computes it)")
        else:  # eval mode: by its running statistics
            assert footer.endswith("; eval mode (dropout off), batch norm too: on its running statistics, not on the "
                                   "batch's own as training computes it (the check does that from 2 samples up: use "
                                   "--batch 2 or more))")
    without = gradcheck(nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.Linear(3, 2)), x, y, max_coords=4)
    assert check.render(without).endswith("; eval mode (dropout off))")


def test_gradcheck_report_in_chinese_says_every_mode_and_note_in_chinese() -> None:
    """The report keeps its English words (they are --json's); render gives them in the language asked for."""
    from torchprimer.autodiff import check

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
    x, y = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    modes = {8: "；eval 模式（关闭 dropout），BatchNorm 除外：它处于 train 模式，用本批数据自身的统计量，"
                "与训练时的计算一致）",
             1: "；eval 模式（关闭 dropout），BatchNorm 也是：用其运行统计量，而不是训练时所用的本批统计量（"}
    for rows, mode in modes.items():
        report = gradcheck(model, x[:rows], y[:rows], max_coords=8)
        zh = check.render(report, lang="zh")
        assert "batch norm" in report["mode"] and "this model has BatchNorm1d" in report["manual_note"]
        assert mode in zh and "手算一栏：" in zh and "这个模型含有 BatchNorm1d\n" in zh
        assert not re.search(r"batch norm|statistics|manual|this model|agree", zh), zh
        assert check.render(report, lang="en") == check.render(report)
    assert check.title("neuron", 4, "moons", check.RANDOM_PROJECTION, "zh") == (
        "gradcheck：neuron，4 个 moons 样本，损失 输出的固定随机投影")
    with pytest.raises(UserError, match="en or zh"):
        check.render(report, lang="fr")


def test_gradcheck_title_counts_one_sample_in_the_singular() -> None:
    """`gradcheck --batch 1` printed "on 1 digits samples"."""
    from torchprimer.autodiff import check

    assert check.title("neuron", 1, "moons", "bce") == "gradcheck: neuron on 1 moons sample, loss bce"
    assert check.title("neuron", 1438, "digits", "ce") == "gradcheck: neuron on 1,438 digits samples, loss ce"
    assert check.title("neuron", 1, "moons", "bce", "zh") == "gradcheck：neuron，1 个 moons 样本，损失 bce"


def test_gradcheck_on_a_model_without_parameters_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no trainable parameters"):
        gradcheck(nn.ReLU(), torch.randn(2, 3))
    with pytest.raises(UserError, match=r"package\.module:Name"):
        load_module("torch.nn.Tanh")
    assert isinstance(load_module("torch.nn:Tanh"), nn.Tanh)
    with pytest.raises(UserError, match=r"the module failed on a batch of shape \(5, 3\).*mat1 and mat2"):
        gradcheck(nn.Linear(100, 10), torch.randn(5, 3))  # a user's --module that does not fit the data


# --- the autograd graph -----------------------------------------------------------------

def test_graph_of_the_seed_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loss, names = tpgraph.seed_example_graph()
    walked = tpgraph.walk(loss, names)
    ops = [n["op"] for n in walked["nodes"]]
    assert ops[:4] == ["PowBackward0", "SubBackward0", "AddBackward0", "MulBackward0"]
    assert sorted(n["leaf"] for n in walked["nodes"] if "leaf" in n) == ["b", "w", "x"]
    tree = tpgraph.text_tree(walked)
    assert tree.splitlines()[0] == "PowBackward0" and "└── b (scalar) ← AccumulateGrad" in tree
    assert tpgraph.write_graph(walked, tmp_path / "g.dot")[0].read_text().startswith('digraph "autograd graph"')


DOT_STRING = r'"((?:[^"\\]|\\.)*)"'  # a quoted DOT string: any character but " and \, or an escape


def _read_dot_string(quoted: str) -> str:
    r"""The text a DOT string stands for, as Graphviz reads a label: \" is ", \\ is \, \n a line break."""
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], quoted)


def _parse_dot(text: str) -> tuple[str, dict[int, str], list[tuple[int, int]]]:
    """The title, node labels and edges of to_dot's text. Every line must be one whole statement of
    the forms to_dot writes, every string closed where it should be: a stray quote fails to parse."""
    lines = text.splitlines()
    head = re.fullmatch(rf"digraph {DOT_STRING} {{", lines[0])
    assert head and lines[-1] == "}", text
    labels: dict[int, str] = {}
    edges: list[tuple[int, int]] = []
    for line in lines[1:-1]:
        if node := re.fullmatch(rf'  n(\d+) \[label={DOT_STRING}(, style=filled, fillcolor="#cfe8ff")?\];', line):
            labels[int(node[1])] = _read_dot_string(node[2])
        elif edge := re.fullmatch(r"  n(\d+) -> n(\d+);", line):
            edges.append((int(edge[1]), int(edge[2])))
        else:
            assert line in ("  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];'), line
    return _read_dot_string(head[1]), labels, edges


def test_the_dot_file_speaks_the_language_of_the_tree(tmp_path: Path) -> None:
    """`graph --lang zh --out g.dot` printed a Chinese tree but wrote English labels (x (scalar) ...)."""
    walked = tpgraph.walk(*tpgraph.seed_example_graph())
    ops = ["PowBackward0", "SubBackward0", "AddBackward0", "MulBackward0"]
    for lang, title, leaf in (("zh", "autograd 计算图", "{}（标量）← AccumulateGrad"),
                              ("en", "autograd graph", "{} (scalar) ← AccumulateGrad")):
        path = tpgraph.write_graph(walked, tmp_path / f"{lang}.dot", lang)[0]
        dot_title, labels, edges = _parse_dot(path.read_text(encoding="utf-8"))
        assert dot_title == title and edges == [tuple(e) for e in walked["edges"]]
        assert list(labels.values()) == [*ops, *(leaf.format(name) for name in "wxb")]
        assert all(label in tpgraph.text_tree(walked, lang) for label in labels.values())
    assert "scalar" not in (tmp_path / "zh.dot").read_text(encoding="utf-8")


def test_the_dot_file_keeps_any_parameter_name_as_it_is() -> None:
    """A quote in a name was turned into ' (and a backslash left to Graphviz to read as an escape)."""
    x = torch.tensor(2.0, requires_grad=True)
    name = 'say "hi" \\ 中\\n'
    _, labels, _ = _parse_dot(tpgraph.to_dot(tpgraph.walk(x * 3, {id(x): name}), title='my "graph"'))
    assert labels[1] == f"{name} (scalar) ← AccumulateGrad"
    assert _parse_dot(tpgraph.to_dot(tpgraph.walk(x * 3), title='my "graph"'))[0] == 'my "graph"'


def _fake_dot(folder: Path, script: str) -> Path:
    """A stand-in for Graphviz's `dot`, so the tests need no Graphviz and behave alike everywhere."""
    exe = folder / "bin" / "dot"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(0o755)
    return exe


def test_a_picture_writes_only_the_named_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--out g.svg once also wrote g.dot, over any file of that name."""
    walked = tpgraph.walk(*tpgraph.seed_example_graph())
    mine = tmp_path / "g.dot"
    mine.write_text("my own notes")
    exe = _fake_dot(tmp_path, 'while [ "$1" != "-o" ]; do shift; done; cat > "$2"\n')  # DOT from stdin to -o
    monkeypatch.setattr(tpgraph.shutil, "which", lambda name: str(exe))
    assert tpgraph.write_graph(walked, tmp_path / "g.SVG") == [tmp_path / "g.SVG"]
    assert (tmp_path / "g.SVG").read_text().startswith("digraph") and mine.read_text() == "my own notes"


def test_without_graphviz_an_existing_dot_file_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walked = tpgraph.walk(*tpgraph.seed_example_graph())
    monkeypatch.setattr(tpgraph.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match=r"SVG needs Graphviz.*apt install graphviz.*the graph is in .*g\.dot \(new\): "
                       r"open it in any DOT viewer, or draw it later with `dot -Tsvg .*g\.dot -o .*g\.svg`"):
        tpgraph.write_graph(walked, tmp_path / "g.svg")
    assert (tmp_path / "g.dot").read_text().startswith("digraph") and not (tmp_path / "g.svg").exists()
    (tmp_path / "g.dot").write_text("my own notes")
    with pytest.raises(UserError, match=r"PNG needs Graphviz.*nothing was written \(.*g\.dot exists and was left"):
        tpgraph.write_graph(walked, tmp_path / "g.png")
    assert (tmp_path / "g.dot").read_text() == "my own notes" and not (tmp_path / "g.png").exists()


def test_a_broken_graphviz_says_why_and_keeps_the_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    walked = tpgraph.walk(*tpgraph.seed_example_graph())
    broken = _fake_dot(tmp_path, 'echo "Format: png not recognized" >&2\nexit 1\n')  # a missing format plugin
    monkeypatch.setattr(tpgraph.shutil, "which", lambda name: str(broken))
    with pytest.raises(UserError, match=r"could not draw g\.png \(Format: png not recognized\); repair Graphviz; "
                       r"the graph is in .*g\.dot \(new\): open it in any DOT viewer"):
        tpgraph.write_graph(walked, tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists() and (tmp_path / "g.dot").is_file()
    with pytest.raises(UserError) as again:  # g.dot is there now: nothing new to open, and it says only that
        tpgraph.write_graph(walked, tmp_path / "g.png")
    assert "repair Graphviz; nothing was written" in str(again.value) and "viewer" not in str(again.value)


@pytest.mark.parametrize("said,shown", [(b"Warning: still laying out\n", "(Warning: still laying out)"),
                                        (None, "(timed out)")])
def test_a_graphviz_that_hangs_is_named_as_timed_out(said, shown, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A timeout hands over what dot said so far as bytes (text=True notwithstanding): it was shown as b'...', and
    a silent one as "exit timeout"."""
    import subprocess

    walked = tpgraph.walk(*tpgraph.seed_example_graph())
    monkeypatch.setattr(tpgraph.shutil, "which", lambda name: "/usr/bin/dot")

    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], 60, stderr=said)

    monkeypatch.setattr(tpgraph.subprocess, "run", hang)
    with pytest.raises(UserError) as refused:
        tpgraph.write_graph(walked, tmp_path / "g.png")
    assert f"could not draw g.png {shown}; repair Graphviz" in str(refused.value)
    assert "b'" not in str(refused.value)


def test_graph_of_a_model_names_its_parameters() -> None:
    model = build_mlp((4,), 3, ModelSpec(hidden=(5,)))
    loss, names = tpgraph.model_graph(model, torch.randn(2, 4), torch.tensor([0, 2]))
    walked = tpgraph.walk(loss, names)
    leaves = {n["leaf"]: n["shape"] for n in walked["nodes"] if "leaf" in n}
    assert leaves == {"1.weight": [5, 4], "1.bias": [5], "3.weight": [3, 5], "3.bias": [3]}
    with pytest.raises(UserError, match="no autograd graph"):
        tpgraph.walk(torch.ones(2).sum())


# --- the commands, in process -----------------------------------------------------------

def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    return int(done.value.code or 0), capsys.readouterr().out


def test_backprop_gradcheck_graph_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "backprop", "--activation", "tanh", "--json")
    assert code == 0 and json.loads(out)["match"]
    code, out = _run(capsys, "gradcheck", "--hidden", "6", "--batch", "3", "--entries", "16", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["model"].startswith("mlp")
    code, out = _run(capsys, "graph", "--model", "mlp", "--hidden", "4", "--json")
    assert code == 0 and json.loads(out)["nodes"][0]["op"] == "NllLossBackward0"


def test_the_neurons_graph_and_gradcheck_use_its_binary_loss(capsys: pytest.CaptureFixture[str]) -> None:
    """graph --model neuron once fed its one output to softmax cross-entropy: IndexError on any label 1."""
    code, out = _run(capsys, "graph", "--model", "neuron", "--dataset", "moons", "--json")
    nodes = json.loads(out)["nodes"]
    assert code == 0 and [n["op"] for n in nodes[:2]] == ["BinaryCrossEntropyBackward0", "SigmoidBackward0"]
    code, out = _run(capsys, "gradcheck", "--model", "neuron", "--dataset", "moons", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["loss"] == "bce" and "binary" in report["manual_note"]


@pytest.mark.parametrize(("args", "message"), [
    (["graph", "--model", "cnn", "--hidden", "8"], "--hidden does nothing with --model cnn"),
    (["graph", "--model", "linear", "--activation", "tanh"], "--activation does nothing with --model linear"),
    (["gradcheck", "--model", "cnn", "--hidden", "8"], "--hidden does nothing with --model cnn"),
    (["gradcheck", "--model", "linear", "--hidden", "8", "--activation", "tanh"],
     "--hidden, --activation do nothing with --model linear"),
    (["gradcheck", "--model", "neuron", "--dataset", "moons", "--loss", "mse"], "--loss does nothing with --model "
     "neuron (it is checked on binary cross-entropy"),
    (["gradcheck", "--module", "torch.nn:PReLU", "--model", "mlp"], "--model does nothing with --module"),
    (["gradcheck", "--module", "torch.nn:PReLU", "--activation", "tanh"], "--activation does nothing with --module"),
    (["graph", "--out", "notes.txt"], "--out notes.txt: the file takes its format from its name, which must end in "
     ".dot, .gv, .png or .svg"),
    (["graph", "--out", ""], "Invalid value for '--out': it is empty"),
])
def test_graph_and_gradcheck_refuse_options_that_would_do_nothing(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before any data is loaded: --hidden shaped nothing but an mlp, --activation an mlp or cnn."""
    from torchprimer import data

    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("data loaded before the options were checked"))
    with pytest.raises(SystemExit) as done:
        main(args)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and message in err, err


def test_a_cnn_takes_activation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, "gradcheck", "--model", "cnn", "--activation", "tanh", "--batch", "2", "--entries", "4",
                     "--json")
    assert code == 0 and json.loads(out)["model"] == "cnn (tanh)"


def test_gradcheck_finds_a_module_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `torchprimer` command, unlike `python -m`, does not put the current folder on sys.path:
    a learner's own layers.py beside them was "cannot import it"."""
    from torchprimer.autodiff.check import load_module

    (tmp_path / "learner_layers_here.py").write_text(
        "from torch import nn\n\nclass Tiny(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.lin = nn.Linear(64, 3)\n\n    def forward(self, x):\n        return self.lin(x.flatten(1))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert isinstance(load_module("learner_layers_here:Tiny"), torch.nn.Module)
    assert str(tmp_path) not in sys.path  # put back as it was


class _ScaledLinear(nn.Linear):  # a user's subclass: its forward is not nn.Linear's
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * super().forward(x)


class _Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used, self.unused = nn.Linear(4, 3), nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


class _Transposed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(3, 4).T)  # not contiguous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


class _Detached(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).detach()


class _Whole(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).long()


class _Boom(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x * 1

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def]
        raise ValueError("backward boom")


class _BackwardFails(nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Boom.apply(super().forward(x))


def test_gradcheck_of_a_users_own_modules_is_right_or_one_clear_error() -> None:
    """A subclass of nn.Linear passed as nn.Linear to the manual column (every row 'NO' for right
    gradients); an unused parameter, a non-contiguous one, a detached or integer output and a
    failing backward were tracebacks."""
    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    for model in (nn.Sequential(_ScaledLinear(4, 3)), _Unused(), _Transposed()):
        report = gradcheck(model, x, y)
        assert report["ok"] and not report["manual_available"], type(model).__name__
    assert "this model has _ScaledLinear" in gradcheck(nn.Sequential(_ScaledLinear(4, 3)), x, y)["manual_note"]
    for model, expected in ((_Detached(4, 3), "does not depend differentiably"), (_Whole(4, 3), "not floating point"),
                            (_BackwardFails(4, 3), "backward pass failed \\(backward boom\\)")):
        with pytest.raises(UserError, match=expected):
            gradcheck(model, x, y)
    note = gradcheck(nn.Sequential(nn.Linear(4, 6), nn.Unflatten(1, (2, 3)), nn.Flatten(), nn.Linear(6, 3)),
                     x, y)["manual_note"]
    assert "this model has Unflatten" in note and "no derivative" not in note


def test_a_module_that_fails_as_it_is_imported_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "raises_on_import.py").write_text("raise RuntimeError('import boom')\n")
    (tmp_path / "bad_syntax.py").write_text("def (:\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="importing raises_on_import failed \\(import boom\\)"):
        load_module("raises_on_import:X")
    with pytest.raises(UserError, match="importing bad_syntax failed \\(invalid syntax"):
        load_module("bad_syntax:X")


@pytest.mark.parametrize(("model", "key", "layer"), [
    (nn.Sequential(nn.Flatten(1, 1), nn.Linear(4, 3)), "manual_flatten", None),
    (nn.Sequential(nn.Linear(4, 3), nn.Dropout()), "manual_layer", "Dropout"),
    (nn.Sequential(_ScaledLinear(4, 3)), "manual_custom", "_ScaledLinear"),
    (nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)), "manual_no_classes", None),
])
def test_the_manual_columns_reason_is_kept_by_key_and_said_in_either_language(
    model: nn.Module, key: str, layer: str | None,
) -> None:
    """The reason travels as its text's key and fields, not as English to be parsed back: every one of
    them reads in Chinese, with the layer named, and the JSON's English note is the same reason."""
    from torchprimer.autodiff.check import TEXT, render

    x, y = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    report = gradcheck(model, x, y)
    assert report["manual_why"] == {"key": key, **({"layer": layer} if layer else {})}
    assert report["manual_note"] == TEXT["en"][key].format(layer=layer)
    zh = render(report, lang="zh")
    assert TEXT["zh"][key].format(layer=layer) in zh and "manual backprop" not in zh


@pytest.mark.parametrize(("options", "kind", "text"), [
    ({"activation": "relu", "w": -1.0}, "dead",
     "note: relu'(z) = 0 at z = -1.5: no gradient passes back to w, b or x"),
    ({"activation": "tanh"}, "unreachable", "note: y = 3.0 is not among the values tanh outputs, (-1, 1)"),
    # a bound only approached is out of reach too; an unbounded side is not (relu reaches 100: 40 was the grid's end)
    ({"activation": "sigmoid", "y": 1.0}, "unreachable", "y = 1.0 is not among the values sigmoid outputs, (0, 1)"),
    ({"activation": "elu", "y": -1.0}, "unreachable", "note: y = -1.0 is not among the values elu outputs, (-1, ∞)"),
    ({"activation": "relu", "y": 100.0, "w": 49.75}, None, None),
    ({"activation": "sigmoid", "y": 0.5}, None, None),
    ({}, None, None),
])
def test_the_worked_example_says_when_no_gradient_passes_or_the_target_is_out_of_reach(
    options: dict[str, Any], kind: str | None, text: str | None,
) -> None:
    """A dead ReLU printed gradients of 0 without a word, and the help's tanh example kept a target of 3 that
    tanh never reaches."""
    from torchprimer.autodiff.scalar import render, worked_example

    result = worked_example(**options)
    assert [note["kind"] for note in result["notes"]] == ([kind] if kind else [])
    if kind == "dead":
        assert result["manual"]["w"] == result["manual"]["b"] == result["manual"]["x"] == 0.0
    if text:
        assert text in render(result)
        assert "注：" in render(result, "zh")
