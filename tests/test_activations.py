"""The activation table: formulas checked against torch, every column computed, not typed in."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import fails, refused_in_both_languages, says_the_same_in_chinese

from torchprimer import activations as act
from torchprimer.cli import main
from torchprimer.errors import UserError
from torchprimer.models import ACTIVATIONS

REQUIRED = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "softplus", "mish",
            "hardswish", "hardtanh", "softsign"]


@pytest.fixture(scope="module")
def table() -> dict[str, dict]:
    return {row["name"]: row for row in act.activation_table(cost=False)}


def test_every_required_activation_has_a_formula_and_a_row(table: dict[str, dict]) -> None:
    assert set(REQUIRED) <= set(act.FORMULAS) and set(REQUIRED) <= set(table)
    assert set(act.FORMULAS) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_formula_matches_torch(name: str) -> None:
    # include the kinks (0, ±1, ±3, 6) exactly, plus a dense grid
    x = torch.cat([torch.linspace(-20, 20, 40001, dtype=torch.float64),
                   torch.tensor([0.0, -1.0, 1.0, -3.0, 3.0, 6.0], dtype=torch.float64)])
    expected = ACTIVATIONS[name]()(x)
    got = act.evaluate_formula(act.FORMULAS[name], x)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_known_values_come_out_of_the_computation(table: dict[str, dict]) -> None:
    sig, relu, tanh = table["sigmoid"], table["relu"], table["tanh"]
    assert sig["max_derivative"] == 0.25 and sig["max_derivative_at"] == 0.0
    assert sig["range"] == {"low": 0.0, "low_attained": False, "high": 1.0, "high_attained": False}
    assert sig["mean_for_normal_input"] == 0.5 and not sig["zero_centred"]
    lo, hi = sig["saturation"]
    assert math.isinf(lo[0]) and lo[1] == pytest.approx(-6.91, abs=0.01)  # σ'(x) = 1e-3 at |x| ≈ 6.907
    assert math.isinf(hi[1]) and hi[0] == pytest.approx(6.91, abs=0.01)
    assert tanh["zero_centred"] and tanh["monotonic"] and tanh["smooth"]
    # the N(0, 1) mass of each flat stretch; a grid sum had weighed relu's single point x = 0 (0.5002)
    assert relu["zero_gradient_share"] == 0.5 and table["relu6"]["zero_gradient_share"] == 0.5
    assert relu["kinks"] == [0.0] and not relu["smooth"]
    assert relu["saturation"] == [[-math.inf, 0.0]]
    assert table["relu6"]["saturation"] == [[-math.inf, 0.0], [6.0, math.inf]]
    assert relu["range"]["low"] == 0.0 and relu["range"]["low_attained"] and math.isinf(relu["range"]["high"])
    assert table["hardtanh"]["zero_gradient_share"] == round(math.erfc(1 / math.sqrt(2)), 4)  # P(|z| > 1): 0.3173
    assert table["hardswish"]["zero_gradient_share"] == round(math.erfc(3 / math.sqrt(2)) / 2, 6)  # P(z < -3)
    assert table["hardswish"]["kinks"] == [-3.0, 3.0] and table["hardswish"]["max_derivative"] == 1.5
    assert table["selu"]["zero_centred"]  # SELU's constants make N(0,1) inputs give mean-0 outputs
    assert table["selu"]["max_derivative"] == pytest.approx(1.758, abs=1e-3)
    assert table["elu"]["smooth"] and not table["selu"]["smooth"]  # α = 1 joins ELU's slopes; SELU's jump
    for name in ("gelu", "silu", "mish"):
        assert not table[name]["monotonic"]
    assert table["gelu"]["range"]["low"] == pytest.approx(-0.17, abs=1e-3)
    assert table["softsign"]["saturation"][0][1] == pytest.approx(-30.6, abs=0.1)
    # σ' underflows to exactly 0 beyond |x| ≈ 36.7, where N(0, 1) has ~1e-295 of its mass: a share of 0, not 9.5e-296
    assert sig["zero_gradient_share"] == 0.0


def test_notes_tell_flat_tails_from_saturating_ones(table: dict[str, dict]) -> None:
    """hardtanh and relu6 pass back exactly no gradient in their tails; sigmoid and softsign tiny ones, from
    where their table row says."""
    assert act.notes(table["hardtanh"])[0] == "flat on both sides (x < -1, x > 1): no gradient at all passes there"
    assert act.notes(table["relu6"])[0].startswith("flat on both sides (x < 0, x > 6)")
    assert act.notes(table["sigmoid"])[0].startswith("saturates on both sides (|f'| < 1e-3 for x < -6.91, x > 6.91)")
    assert "x < -30.6, x > 30.6" in act.notes(table["softsign"])[0]
    assert act.notes(table["tanh"], "zh")[0].startswith("两端饱和（x < -4.15, x > 4.15 时")


def test_perturbing_a_function_changes_the_table() -> None:
    def steeper(x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(2 * x)

    base = act.activation_table("sigmoid", cost=False)[0]
    changed = act.activation_table("sigmoid", functions={"sigmoid": steeper}, cost=False)[0]
    assert base["max_derivative"] == 0.25 and changed["max_derivative"] == 0.5
    # 2σ'(2x) falls below 1e-3 at x ≈ 3.8, well inside sigmoid's own 6.91
    assert changed["saturation"][1][0] == pytest.approx(3.8, abs=0.01)
    shifted = act.activation_table("tanh", functions={"tanh": lambda x: torch.tanh(x) + 0.5}, cost=False)[0]
    assert not shifted["zero_centred"] and shifted["range"]["high"] == 1.5


def test_cost_is_measured_relative_to_relu() -> None:
    rows = act.activation_table("sigmoid,relu", cost_size=1 << 16)
    by = {r["name"]: r for r in rows}
    assert by["relu"]["relative_cost"] == 1.0
    assert by["sigmoid"]["cost_seconds"] > 0 and by["sigmoid"]["relative_cost"] > 0


def test_render_en_and_zh(table: dict[str, dict]) -> None:
    rows = list(table.values())
    en = act.render_table(rows, "en")
    zh = act.render_table(rows, "zh")
    assert "max f'" in en and "saturates on both sides" in en and "f(x) = 1 / (1 + exp(-x))" in en
    assert "最大导数" in zh and "两端饱和" in zh and "零梯度占比" in zh
    with pytest.raises(UserError, match="en or zh"):
        act.render_table(rows, "fr")


def test_two_corners_are_counted_in_the_plural(table: dict[str, dict]) -> None:
    """hardswish's table cell read "no, corner at -3, 3" and its note "derivative jumps at x = -3, 3 (a corner)"."""
    text = act.render_table([table["hardswish"], table["relu"]], "en")
    assert "no, corners at -3, 3 " in text and "derivative jumps at x = -3, 3 (corners)" in text
    assert "no, corner at 0 " in text and "derivative jumps at x = 0 (a corner)" in text


def test_the_footer_speaks_of_cost_only_where_it_was_measured(table: dict[str, dict]) -> None:
    """`activations --no-cost` shows "-" for cost, yet its footer described a timing on 4,194,304 values."""
    for lang, cost_words in (("en", "cost is forward+backward"), ("zh", "开销为")):
        unmeasured = act.render_table([table["relu"]], lang).splitlines()[-1]
        assert cost_words not in unmeasured and unmeasured.startswith(("Computed from torch", "全部由 torch"))
        measured = act.render_table([{**table["relu"], "cost_size": 1 << 16, "relative_cost": 1.0}], lang)
        assert cost_words in measured and "65,536" in measured


def test_unknown_names_are_user_errors() -> None:
    with pytest.raises(UserError, match="known: relu"):
        act.resolve_names("sigmoid,swish")
    with pytest.raises(UserError, match="has an empty entry"):  # it used to drop the gap and go on
        act.resolve_names("relu,,tanh")


def test_an_option_missing_its_value_points_to_its_commands_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["activations", "--names"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == ("error: Option '--names' requires an argument. "
                                       "(see 'torchprimer activations --help')\n")


def test_plot_writes_one_png(tmp_path: Path) -> None:
    path = act.plot_functions("sigmoid,relu,gelu", tmp_path / "act.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["activations", "--names", "relu,tanh", "--no-cost", "--json", "--plot", str(tmp_path / "a.png")])
    assert done.value.code == 0
    def strict(constant: str) -> float:
        raise AssertionError(f"{constant} is not JSON; JavaScript's JSON.parse rejects it")

    out = json.loads(capsys.readouterr().out, parse_constant=strict)
    assert [r["name"] for r in out["rows"]] == ["relu", "tanh"] and (tmp_path / "a.png").is_file()
    assert out["rows"][0]["range"]["high"] == "inf" and float(out["rows"][0]["saturation"][0][0]) == -math.inf
    for lang, line in (("zh", "图像："), ("en", "plot: ")):  # the zh table ended in English
        with pytest.raises(SystemExit):
            main(["activations", "--names", "relu", "--no-cost", "--lang", lang, "--plot", str(tmp_path / "b.png")])
        assert capsys.readouterr().out.splitlines()[-1] == line + str(tmp_path / "b.png")


def test_chinese_plot_labels_only_with_a_font_that_draws_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a CJK font matplotlib draws '导数' as empty boxes (and warns); the legend then stays in
    plain f(x) / f'(x) notation, which reads the same in both languages."""
    import warnings

    from torchprimer import report

    monkeypatch.setattr(report, "cjk_font", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        act.plot_functions(["relu", "relu6"], tmp_path / "zh.png", lang="zh")
    assert not [w for w in caught if "Glyph" in str(w.message)]
    assert (tmp_path / "zh.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_shows_where_relu6_flattens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On [-5, 5] relu6 looked like relu: its plateau at 6 starts at x = 6, outside the plot."""
    from torchprimer import report

    figures = []
    real_save = report.save_figure
    monkeypatch.setattr(report, "save_figure", lambda fig, path: figures.append(fig) or real_save(fig, path))
    act.plot_functions(["relu", "relu6"], tmp_path / "plateau.png")
    relu6 = figures[0].axes[1]
    assert relu6.get_title() == "relu6"
    x, y = (np.asarray(v) for v in relu6.lines[2].get_data())  # after the two axis lines: f(x)
    flat = x[y == 6.0]
    assert flat.min() == pytest.approx(6.0, abs=0.02) and flat.max() - flat.min() >= 1.5
    assert relu6.get_ylim()[1] > 6.0


@pytest.mark.parametrize(("args", "message"), [
    (["--lr", "0.1", "--depth", "3"], "--depth, --lr do nothing without --train"),
    (["--out", "{tmp}/race"], "--out does nothing without --train"),
    (["--train", "--plot", "{tmp}/a.png"], "--plot does nothing with --train"),
    (["--train", "--lang", "zh", "--no-cost"], "--no-cost 在使用 --train 时不起作用"),  # in the language asked for
    (["--plot", "{tmp}/notes.txt"], "notes.txt: the file is written as a PNG file, so its name must end in .png"),
    (["--plot", "{tmp}"], "Is a directory"),
    (["--plot", ""], "Invalid value for '--plot': it is empty"),
    (["--train", "--out", ""], "Invalid value for '--out': it is empty"),
    (["--train", "--out", "{tmp}/notes.txt/race"], "notes.txt is a file, not a folder"),
])
def test_cli_refuses_before_any_work(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Options the chosen mode ignores, and output paths that cannot be written as asked
    (`--plot notes.txt` once overwrote the notes with PNG bytes)."""
    (tmp_path / "notes.txt").write_text("my notes")
    monkeypatch.setattr(act, "activation_table", lambda *a, **k: pytest.fail("computed before checking"))
    monkeypatch.setattr(act, "compare_training", lambda *a, **k: pytest.fail("trained before checking"))
    assert message in fails(["activations", *(a.format(tmp=tmp_path) for a in args)], capsys)
    assert (tmp_path / "notes.txt").read_text() == "my notes"


# --- refusals in the command's language ------------------------------------------------------------

KNOWN = ", ".join(ACTIVATIONS)
# what a refusal's Chinese keeps as the English has it: options, quoted values, numbers, activation and init names
KEPT = re.compile(r"--[a-z][a-z0-9-]*|'[^']*'|\d+(?:[,.]\d+)*|(?<![A-Za-z0-9_-])[a-z][a-z0-9_-]*")
NAMES = {*ACTIVATIONS, *act.INITS}


@pytest.mark.parametrize(("argv", "english", "chinese"), [
    (["--names", "nope"], f"unknown activation 'nope'; known: {KNOWN}",
     f"未知的激活函数 'nope'；已知的有：{KNOWN}"),
    (["--names", "relu,,tanh"], "--names 'relu,,tanh' has an empty entry; separate names by single commas, "
     "e.g. sigmoid,relu", "--names 'relu,,tanh' 中有一项为空；请用单个逗号分隔各个名称，例如 sigmoid,relu"),
    (["--names", ","], f"--names names no activation; give one or more of {KNOWN}, separated by commas",
     f"--names 没有给出任何激活函数；请从 {KNOWN} 中给出一个或多个，用逗号分隔"),
    (["--train", "--names", "relu,,tanh"], "--names 'relu,,tanh' has an empty entry; separate names by single "
     "commas, e.g. sigmoid,relu", "--names 'relu,,tanh' 中有一项为空；请用单个逗号分隔各个名称，例如 sigmoid,relu"),
    (["--train", "--init", "nope"], "unknown --init 'nope'; use one of torch, kaiming, xavier",
     "未知的 --init 'nope'；请使用以下之一：torch, kaiming, xavier"),
    (["--train", "--depth", "5000"], "--depth 5000 must be from 1 to 1,000", "--depth 5000 必须在 1 到 1,000 之间"),
    (["--train", "--names", "relu", "--width", "2000000"], "--width 2000000 must be from 1 to 1,000,000",
     "--width 2000000 必须在 1 到 1,000,000 之间"),
], ids=["unknown name", "empty entry", "no name", "--train empty entry", "unknown init", "depth", "width"])
def test_activations_refuses_in_the_language_it_speaks(
    argv: list[str], english: str, chinese: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The table and --train's report spoke Chinese under --lang zh, while their refusals stayed English;
    every one of these is refused before any data is loaded."""
    from torchprimer.training import run

    monkeypatch.chdir(tmp_path)  # --train's default --out lies under runs/ here
    monkeypatch.setattr(run, "load_splits", lambda *a, **k: pytest.fail("loaded data before checking"))
    en, zh = refused_in_both_languages(["activations", *argv], capsys, monkeypatch)
    assert (en, zh) == (f"error: {english}\n", f"error: {chinese}\n")
    says_the_same_in_chinese(en, zh, KEPT, NAMES)
    assert not (tmp_path / "runs").exists()


def test_a_function_that_overflows_on_the_grid_is_refused_in_both_languages() -> None:
    """Only a `functions` override (the Python API) can give non-finite values: torch's own are finite there."""
    with pytest.raises(UserError) as refused:
        act.activation_table("relu", functions={"relu": lambda x: torch.exp(20 * x)}, cost=False)
    assert str(refused.value) == "activation 'relu' gives non-finite values on [-40.0, 40.0]"
    assert refused.value.in_language("zh") == "激活函数 'relu' 在 [-40.0, 40.0] 上给出了非有限值"
