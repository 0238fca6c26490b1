"""The tour: every lesson runs and all its checks pass; both languages are complete; the seed's
code is the seed's own; the command's exit codes and language choice."""

from __future__ import annotations

import io
import json
import re
import tokenize
import types
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli

from torchprimer import lessons
from torchprimer.cli import main
from torchprimer.errors import UserError
from torchprimer.lessons import runner

SECTIONS = ["1", "2.2", "3.1", "4.1", "4.2", "5.1", "6.2", "7.1", "7.2"]
CJK = re.compile(r"[\u4e00-\u9fff]")
# shared/ lies beside the checkout, for developers and for CI alike
SEED_ZH = Path(__file__).resolve().parents[2] / "shared" / "seed" / "pytorch-fundamentals.zh.txt"


@pytest.fixture(scope="module")
def results() -> dict[str, runner.LessonResult]:
    """Every lesson, run once for the whole module (the suite runs every lesson's checks)."""
    return {section: lessons.run_lesson(module) for section, module in lessons.discover().items()}


def test_one_lesson_per_seed_section_in_order() -> None:
    assert list(lessons.discover()) == SECTIONS


@pytest.mark.parametrize("section", SECTIONS)
def test_every_check_of_every_lesson_passes(results: dict[str, runner.LessonResult], section: str) -> None:
    result = results[section]
    failed = [f"{c.id}: {c.values}" for c in result.checks if not c.ok]
    assert not failed, failed
    assert result.checks and all(c.values.strip() for c in result.checks)


def _code_fields(module: types.ModuleType) -> list[object]:
    return [getattr(module, "SETUP", ""), module.SEED, module.FIXED]


def _tokens(code: str) -> list[str]:
    """The code without its comments: what Python runs."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    return [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in skip]


def _without_lang_zh(tokens: list[str]) -> list[str]:
    """The tokens without each `, lang="zh"`: the one argument the Chinese code may add."""
    out: list[str] = []
    for token in tokens:
        out.append(token)
        if out[-4:] == [",", "lang", "=", '"zh"']:
            del out[-4:]
    return out


@pytest.mark.parametrize("section", SECTIONS)
def test_both_languages_have_every_text_and_the_same_checks_and_code(section: str) -> None:
    module = lessons.find(section)
    en, zh = module.TEXT["en"], module.TEXT["zh"]
    assert set(en) == set(zh) and {"title", "intro", "verdict"} <= set(en)
    assert all(v.strip() for v in (*en.values(), *zh.values()))
    assert all(CJK.search(v) for v in zh.values()), "every Chinese text is written in Chinese"
    assert not any(CJK.search(v) for v in en.values())
    for claim in module.CHECKS.values():
        assert set(claim) == {"en", "zh"} and CJK.search(claim["zh"]) and not CJK.search(claim["en"])
    for field in _code_fields(module):
        if isinstance(field, dict):
            assert set(field) == {"en", "zh"}
            assert _tokens(field["en"]) == _without_lang_zh(_tokens(field["zh"])), \
                "the languages differ only in comments and in a lang=\"zh\" argument"
            assert not CJK.search(field["en"])


@pytest.mark.skipif(not SEED_ZH.is_file(), reason="the seed's Chinese original is not on this machine")
@pytest.mark.parametrize("section", [s for s in SECTIONS if lessons.find(s).SEED is not None])
def test_seed_code_is_the_seeds_own_word_for_word(section: str) -> None:
    """Whitespace aside (the original was flattened onto single lines), the code is the seed's."""
    original = re.sub(r"\s+", "", SEED_ZH.read_text(encoding="utf-8"))
    code = runner.code_in(lessons.find(section).SEED, "zh")
    assert re.sub(r"\s+", "", code) in original


def test_what_the_issue_asks_each_lesson_to_show(results: dict[str, runner.LessonResult]) -> None:
    seed72 = results["7.2"].runs[0]
    assert seed72.stdout.strip() == "tensor(-2.)"
    assert "4.0" in seed72.code["en"]  # the seed's claim, shown as written
    seed42, fixed42 = results["4.2"].runs
    assert "einsum" in (seed42.error or "") and fixed42.error is None
    assert "NameError" in (results["4.1"].runs[0].error or "")
    seed22 = results["2.2"].runs[0]
    import torch

    assert seed22.stdout.split()[0] == torch.__version__
    assert "torchprimer doctor" in results["2.2"].text["en"]["verdict"]
    assert "torchprimer doctor" in results["2.2"].text["zh"]["verdict"]
    assert "Epoch 10, Loss:" in results["6.2"].runs[0].stdout
    ran = next(c for c in results["6.2"].checks if c.id == "seed_runs")  # it read "error: None"
    assert ran.values.endswith("no error") and ran.values_in("zh").endswith("没有出错")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_render_and_json_in_each_language(results: dict[str, runner.LessonResult], lang: str) -> None:
    for result in results.values():
        text = lessons.render(result, lang)
        assert result.text[lang]["title"] in text and "PASS" in text and "FAIL" not in text
        if lang == "en":
            assert not CJK.search(text), "English output has no Chinese left in it"
        data = lessons.as_json(result, lang)
        json.dumps(data)
        assert data["ok"] and [c["id"] for c in data["checks"]] == list(lessons.find(result.section).CHECKS)
        assert {c["claim"] for c in data["checks"]} == {t[lang] for t in lessons.find(result.section).CHECKS.values()}


ENGLISH_RENDER_LABELS = ("inputs", "forward", "local derivatives", "chain rule", "result", "manual and autograd agree",
                         "MISMATCH", "The seed says", "note:")
ENGLISH_CHECK_LABELS = ("(seed)", "(step by step)", "(finite difference)", "(2*(2+0.5-3)*2)", " vs ")
NUMBER = re.compile(r"[-+−]?\d+(?:\.\d+)?(?:e[-+]\d+)?")


def _printed(result: runner.LessonResult, lang: str) -> str:
    """What the reader of `lang` sees the lesson's own code print."""
    return lessons.as_json(result, lang)["runs"][-1]["stdout"]


def test_chinese_tour_7_2_shows_the_worked_example_in_chinese(results: dict[str, runner.LessonResult]) -> None:
    result = results["7.2"]
    en, zh = _printed(result, "en"), _printed(result, "zh")
    assert not any(line.lstrip().startswith(ENGLISH_RENDER_LABELS) for line in zh.splitlines())
    assert "局部导数" in zh and "链式法则" in zh and "手算结果与 autograd 完全一致" in zh and "注：原教程说" in zh
    assert "local derivatives" in en and "note: The seed says w.grad is 4.0" in en and not CJK.search(en)
    # the same computation: every number printed in English is printed in Chinese, and no other
    assert sorted(NUMBER.findall(en)) == sorted(NUMBER.findall(zh))
    zh_lines = zh.splitlines()
    assert "  ∂loss/∂w                -2.0           -2.0" in zh_lines and "finite difference: -2.0" in zh_lines
    # what the Chinese reader sees printed is what the Chinese code shown to them printed
    fixed = result.runs[-1]
    assert 'print(render(example, lang="zh"))' in fixed.code["zh"] and "lang=" not in fixed.code["en"]
    assert fixed.shown("zh") is not fixed and fixed.shown("zh").error is None and fixed.shown("en") is fixed
    assert lessons.render(result, "zh").count("局部导数") == 1


def test_chinese_tour_7_1_prints_the_table_in_chinese(results: dict[str, runner.LessonResult]) -> None:
    result = results["7.1"]
    en, zh = _printed(result, "en"), _printed(result, "zh")
    assert "激活函数" in zh and "这些数字意味着什么" in zh and "what the numbers mean" not in zh
    assert "what the numbers mean" in en and not CJK.search(en)
    assert 'render_table(rows, lang="zh")' in result.runs[-1].code["zh"]


def test_chinese_tour_1_prints_the_comparison_in_chinese(results: dict[str, runner.LessonResult]) -> None:
    en, zh = _printed(results["1"], "en"), _printed(results["1"], "zh")
    assert "测试准确率" in zh and "预期的排序" in zh and "Expected ordering" not in zh
    assert "Expected ordering" in en and not CJK.search(en)
    # the same rows: every accuracy and parameter count printed in English is printed in Chinese
    assert sorted(re.findall(r"\d\.\d{4}|\d+,\d{3}", en)) == sorted(re.findall(r"\d\.\d{4}|\d+,\d{3}", zh))


def test_chinese_tour_7_2_labels_its_checks_in_chinese(results: dict[str, runner.LessonResult]) -> None:
    zh = "\n".join(c["values"] for c in lessons.as_json(results["7.2"], "zh")["checks"])
    en = "\n".join(c["values"] for c in lessons.as_json(results["7.2"], "en")["checks"])
    assert not any(label in zh for label in ENGLISH_CHECK_LABELS)
    assert all(label in zh for label in ("（原教程）", "（逐步手算）", "（autograd）", "（有限差分）"))
    assert all(label in en for label in ENGLISH_CHECK_LABELS) and not CJK.search(en)
    assert sorted(NUMBER.findall(en)) == sorted(NUMBER.findall(zh))


# The words that label the values of the checks in English: none may be left in the Chinese tour
ENGLISH_VALUE_WORDS = (
    "printed", "seed", "test", "samples", "per", "method", "best", "classic", "sum", "mean", "std", "deterministic",
    "mode", "sevens", "published", "stats", "photo", "crops", "max", "difference", "image", "images", "batched",
    "error", "shape", "value", "loop", "corrected", "epoch", "epochs", "last batch", "accuracy", "by hand", "table",
    "share", "step by step", "finite", "of", "for", "in", "on", "at", "vs",
)
# a whole word, not part of an identifier or a name such as nearest-mean or leaky_relu
ENGLISH_VALUE_WORD = re.compile(r"(?<![\w-])(?:" + "|".join(ENGLISH_VALUE_WORDS) + r")(?![\w-])", re.IGNORECASE)
RAISED = re.compile(r"^line (\d+): (\w+: .*)", re.DOTALL)  # what Python raised: its line, then Python's words


def test_chinese_tour_labels_every_checks_values_in_chinese(results: dict[str, runner.LessonResult]) -> None:
    """Under zh no check's values are labelled in English, and they show the numbers the English ones show."""
    translated = 0
    for section, result in results.items():
        zh_checks = {c["id"]: c["values"] for c in lessons.as_json(result, "zh")["checks"]}
        for check in result.checks:
            en, zh = check.values_in("en"), zh_checks[check.id]
            assert en == check.values and not CJK.search(en)
            if raised := RAISED.match(en):  # the line in Chinese, what Python said as it said it
                assert zh == f"第 {raised[1]} 行：{raised[2]}"
                continue
            assert not ENGLISH_VALUE_WORD.search(zh), f"§{section} {check.id}: {zh!r}"
            # every number the English shows, the Chinese shows (it may write one the English spells: sevens, 7)
            assert Counter(NUMBER.findall(en)) <= Counter(NUMBER.findall(zh)), f"§{section} {check.id}"
            if ENGLISH_VALUE_WORD.search(en):  # the English keeps its labels; the Chinese has its own
                assert CJK.search(zh), f"§{section} {check.id}: {zh!r}"
                translated += 1
    assert translated >= 20


def test_the_loss_table_lines_up_in_both_languages(results: dict[str, runner.LessonResult]) -> None:
    """§6.2's table: the English header as before, and every row as wide as its header in terminal columns."""
    from torchprimer.report import display_width

    check = next(c for c in results["6.2"].checks if c.id == "last_batch_not_mean")
    en, zh = check.values_in("en").splitlines(), check.values_in("zh").splitlines()
    assert en[0] == "epoch  seed's print (last batch)  epoch mean  torchprimer fit (epoch mean)"
    assert zh[0].split() == ["轮次", "原教程的输出（最后一批）", "整轮平均", "torchprimer", "的", "fit（整轮平均）"]
    assert len(en) == len(zh) == 11 and [line.split() for line in en[1:]] == [line.split() for line in zh[1:]]
    assert {display_width(line) for line in en} == {len(en[0])}
    assert {display_width(line) for line in zh} == {display_width(zh[0])}


def test_code_that_differs_beyond_its_comments_is_run_in_each_language() -> None:
    module = _fake_lesson(ok=True)
    module.FIXED = {"en": 'print("four")  # en\n', "zh": 'print("四")  # 中\n'}
    result = lessons.run_lesson(module)
    fixed = result.runs[-1]
    assert fixed.stdout == "four\n" and fixed.shown("zh").stdout == "四\n"
    assert "  | 四" in lessons.render(result, "zh") and "  | four" in lessons.render(result, "en")
    assert lessons.as_json(result, "zh")["runs"][-1]["stdout"] == "四\n"
    assert result.runs[0].other == {}  # the seed's code reads the same in both: run once


def test_lesson_numbers() -> None:
    assert lessons.find("§7.2").SECTION == "7.2"
    assert lessons.find("3").SECTION == "3.1"
    with pytest.raises(UserError, match="ambiguous"):
        lessons.find("4")
    with pytest.raises(UserError, match="no lesson '9'"):
        lessons.find("9")


@pytest.mark.parametrize(("number", "lesson"), [("2.1", "2.2"), ("§6.1", "6.2")])
def test_a_section_without_a_lesson_points_to_the_lesson_that_covers_it(number: str, lesson: str) -> None:
    """The seed's §2.1 (conda commands) and §6.1 (a lost table) have no snippet to run; asking for them said only
    "no lesson", with no word of where the tour covers them."""
    with pytest.raises(UserError, match=rf"no lesson '{number}': .*; run 'torchprimer tour {lesson}'$"):
        lessons.find(number)


def test_language_comes_from_the_locale() -> None:
    assert lessons.default_lang({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert lessons.default_lang({"LANG": "zh_TW.UTF-8"}) == "zh"
    assert lessons.default_lang({"LANG": "en_US.UTF-8"}) == "en"
    assert lessons.default_lang({}) == "en"
    assert lessons.default_lang({"LC_ALL": "zh_CN.UTF-8", "LANG": "C"}) == "zh"
    assert lessons.check_lang("en", {"LANG": "zh_CN.UTF-8"}) == "en"
    with pytest.raises(UserError, match="en or zh"):
        lessons.check_lang("fr", {})


def _fake_lesson(ok: bool) -> types.ModuleType:
    """A lesson written the way a new one would be: one module of data and a check()."""
    module = types.ModuleType("s9_9")
    module.SECTION = "9.9"
    module.TEXT = {lang: {"title": t, "intro": t, "verdict": t} for lang, t in (("en", "x"), ("zh", "例"))}
    module.SETUP = "import math"
    module.SEED = "print(math.sqrt(16))\n1 / 0\n"
    module.FIXED = "print(math.sqrt(16))\n"
    module.CHECKS = {"four": {"en": "four", "zh": "四"}}
    module.check = lambda seed, fixed: {"four": (ok and seed.stdout == "4.0\n", seed.error)}
    return module


def test_runner_captures_output_and_the_line_of_the_error() -> None:
    result = lessons.run_lesson(_fake_lesson(ok=True))
    seed = result.runs[0]
    assert seed.stdout == "4.0\n" and seed.error == "line 2: ZeroDivisionError: division by zero"
    assert result.ok and result.checks[0].values == seed.error


def test_tour_all_exits_1_when_a_check_fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(lessons, "discover", lambda: {"9.8": _fake_lesson(True), "9.9": _fake_lesson(False)})
    with pytest.raises(SystemExit) as exit_info:
        main(["tour", "--all", "--lang", "en"])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "FAIL  four" in out and "2 lessons, 1/2 checks passed" in out
    monkeypatch.setattr(lessons, "discover", lambda: {"9.8": _fake_lesson(True)})
    with pytest.raises(SystemExit) as exit_info:
        main(["tour", "--all", "--json"])
    assert exit_info.value.code == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_a_lesson_whose_check_crashes_fails_instead_of_stopping_the_tour() -> None:
    module = _fake_lesson(True)
    module.check = lambda seed, fixed: {"four": (1 / 0, "")}
    result = lessons.run_lesson(module)
    assert not result.ok and "ZeroDivisionError" in result.checks[0].values


def test_listing_as_json(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["tour", "--json", "--lang", "zh"])
    assert exit_info.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert [x["section"] for x in data["lessons"]] == SECTIONS and data["lang"] == "zh"


ZH_ENV = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}


def test_chinese_locale_prints_chinese_in_a_subprocess() -> None:
    proc = run_cli("tour", "1", env=ZH_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "人工智能、机器学习与深度学习" in proc.stdout and "项检查通过" in proc.stdout


def test_lang_en_overrides_a_chinese_locale_in_a_subprocess() -> None:
    proc = run_cli("tour", "7.2", "--lang", "en", env=ZH_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "The mathematics of backpropagation" in proc.stdout and "tensor(-2.)" in proc.stdout
    assert not CJK.search(proc.stdout)


def test_bad_lesson_number_is_one_line_and_exit_2_in_a_subprocess() -> None:
    proc = run_cli("tour", "9")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: no lesson '9'") and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["tour", "4"], ["tour", "7.2", "--all"], ["tour", "1", "--lang", "fr"]])
def test_bad_input_is_one_line_and_exit_2(args: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error:") and len(captured.err.strip().splitlines()) == 1


@pytest.mark.parametrize(("requires", "verdict"), [
    (">=3.10", "cannot install it"),
    (">=3.8", "can install it"),  # torch 2.4, within pyproject's range: the check failed on it
    (">=3.9.0,<3.14", "can install it"),
    ("", "cannot be judged"),  # a torch built from source: no metadata
])
def test_the_seeds_python_is_compared_with_what_torch_asks_for(
    requires: str, verdict: str, results: dict[str, runner.LessonResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """§2.2 reads torch's Requires-Python and says whether the seed's python=3.9 can install that torch. It used
    to claim 3.9 was too old outright, and failed on the torch releases this project supports that take 3.9."""
    from torchprimer.lessons import s2_2

    monkeypatch.setattr(s2_2, "metadata", lambda name: {"Requires-Python": requires})
    seed, fixed = results["2.2"].runs
    ok, values = s2_2.check(seed, fixed)["install"]
    assert ok == bool(requires) and f"python=3.9 {verdict}" in values["en"]
    assert s2_2.admits(">=3.10", (3, 9)) is False and s2_2.admits(">= 3.9, <4", (3, 9)) is True


# What the Chinese tour must write full width: ASCII , : ; ( ) . touching Chinese text (an ideograph or
# Chinese punctuation), across a line break within a paragraph too, as Chinese prose runs on across
# them (a blank line ends a block: code, output, a paragraph). Code is left out:
# `spans`, calls such as sigmoid(w·x + b), and tuples such as (N, 3) or (0.491, 0.482, 0.447).
ZH_CHAR = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
ZH_CODE = re.compile(rf"`[^`]*`|[A-Za-z_][\w.]*\([^(){ZH_CHAR}]*\)|\([^(){ZH_CHAR}]*,[^(){ZH_CHAR}]*\)")
ASCII_BY_ZH = re.compile(rf"(?<=[{ZH_CHAR}])[,:;().]|[,:;()](?=[{ZH_CHAR}])")


def _ascii_punctuation_in_chinese(text: str) -> list[str]:
    """Each ASCII punctuation mark that touches Chinese in `text`, with a little context."""
    prose = " ".join(ZH_CODE.sub(" ", block.replace("\n", "")) for block in text.split("\n\n"))
    return [prose[max(m.start() - 8, 0):m.end() + 8] for m in ASCII_BY_ZH.finditer(prose)]


def test_the_chinese_tour_writes_chinese_punctuation(results: dict[str, runner.LessonResult]) -> None:
    """§4.1 and §4.2 wrote `0(1e-4)`, `Vᴴ(V 的共轭转置)` and `(3)` beside （1）, and the runner
    `抛出异常: line 7: NameError`. The seed's own code is left as the seed wrote it (`# 输出:4.0`)."""
    found = {}
    for section, result in results.items():
        text = lessons.render(result, "zh")
        for run in result.runs:
            if run.label == "seed":
                text = text.replace(runner._indent(run.code["zh"]), "")
        if bad := _ascii_punctuation_in_chinese(text):
            found[section] = bad
    assert not found, found
    assert "抛出异常：第 7 行：NameError: name 'datasets'" in lessons.render(results["4.1"], "zh")
    assert "It raised: line 7: NameError: name 'datasets'" in lessons.render(results["4.1"], "en")
    assert _ascii_punctuation_in_chinese("形状 (N, 3)，f(x)：`a,b`，(0.4, 0.2) 和") == []  # code, not prose
    assert len(_ascii_punctuation_in_chinese("均值为 0(1e-4)，\n(3) 另一")) == 2  # "0(" is no call


# Words by which §1's prose would say one method beat another: such a clause must be about a method
# the lesson runs (and checks), or say it cites a published figure.
OUTCOME = re.compile(r"edges? out|beats?|ahead|outperform|better than|胜|强于|超过|领先")
PUBLISHED = re.compile(r"published|已发表")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_lesson_1_claims_only_what_it_runs_or_cites(results: dict[str, runner.LessonResult], lang: str) -> None:
    """§1 said "a CNN edges out the SVM on these digits" (zh: CNN 略胜 SVM), but it runs no CNN: the claim
    was checked nowhere. Every clause of the verdict that names a method as winning names one in the
    lesson's table; every percentage is a published figure that compare cites, in a sentence saying so."""
    from torchprimer.compare import REFERENCES

    verdict = " ".join(results["1"].text[lang]["verdict"].split())
    ran = {row["method"] for row in results["1"].runs[-1].namespace["table"]["rows"]}
    names = {"cnn": "CNN", "svc": "SVM", "mlp": "MLP", "logreg": "logistic regression|逻辑回归",
             "forest": "random forest|随机森林", "knn": "neighbours|近邻"}
    for clause in re.split(r"[.;,:。；，：]", verdict):
        if OUTCOME.search(clause) and not PUBLISHED.search(clause):
            named = {m for m, pattern in names.items() if re.search(pattern, clause)}
            assert named <= ran, f"{clause!r} compares {sorted(named - ran)}, which the lesson does not run"
    published = {round(100 * acc) for refs in REFERENCES.values() for _, acc, _ in refs}
    for sentence in re.split(r"(?<=[.。])\s*", verdict):
        for percent in re.findall(r"(\d+)%", sentence):
            assert int(percent) in published and PUBLISHED.search(sentence), sentence


def test_lesson_3_1_reads_the_numbers_the_seed_printed(results: dict[str, runner.LessonResult]) -> None:
    """§3.1's "printed" check looked for "6.,8." inside the print, so [[16, 8], ...] passed, and its values
    were the four strings it looked for, typed in: now the printed numbers, in order, beside the hand-worked ones."""
    from dataclasses import replace

    from torchprimer.lessons import s3_1

    seed, fixed = results["3.1"].runs
    printed = next(c for c in results["3.1"].checks if c.id == "printed")
    assert printed.ok and "17.0, 23.0, 39.0, 53.0]" in printed.values
    wrong = seed.stdout.replace(" 6.", "16.")  # a print that is not a + b
    assert wrong != seed.stdout
    ok, values = s3_1.check(replace(seed, stdout=wrong), fixed)["printed"]
    assert not ok and "16.0" in values["en"] and "16.0" in values["zh"]
    swapped = "\n".join(reversed(seed.stdout.strip().split("\n"))) + "\n"  # the right numbers, out of order
    assert not s3_1.check(replace(seed, stdout=swapped), fixed)["printed"][0]


def test_lesson_6_2_checks_what_its_verdict_says_of_the_last_batch(
    results: dict[str, runner.LessonResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """§6.2's verdict says the print is a batch smaller than the others, that it jumps around and that the
    epoch mean falls smoothly; no check looked at any of it. Now one does, and fails when the mean rises."""
    from dataclasses import replace

    from torchprimer.lessons import s6_2

    seed, fixed = results["6.2"].runs
    loader = seed.namespace["train_loader"]
    last_size = len(loader.dataset) % loader.batch_size
    jumps = next(c for c in results["6.2"].checks if c.id == "last_batch_jumps")
    assert jumps.ok and 0 < last_size < loader.batch_size
    assert f"last batch {last_size} samples, the others {loader.batch_size}" in jumps.values
    assert "rose in epochs" in jumps.values and "fell 9 of 9 times" in jumps.values
    assert "整轮平均 9 次中下降了 9 次" in jumps.values_in("zh")
    history = [{"train_loss": 1.0 - i / 10} for i in range(s6_2.EPOCHS)]
    monkeypatch.setattr(s6_2, "torchprimer_fit", lambda: (history, {"accuracy": 0.9}, True))  # no second training run
    assert s6_2.check(seed, fixed)["last_batch_jumps"][0]
    mean = fixed.namespace["epoch_mean"]
    bumped = [*mean[:4], mean[3] + 0.01, *mean[5:]]  # the epoch mean rises once
    rising = replace(fixed, namespace={**fixed.namespace, "epoch_mean": bumped})
    ok, values = s6_2.check(seed, rising)["last_batch_jumps"]
    assert not ok and "fell 8 of 9 times" in values["en"]


def test_lesson_5_1_checks_which_layers_take_one_vector(
    results: dict[str, runner.LessonResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """§5.1's verdict says Linear, the activations, Dropout and LayerNorm take a single (3,) vector and
    BatchNorm and Conv1d do not; no check ran a layer on one. Now one does, and fails if the list is wrong."""
    from torchprimer.lessons import s5_1

    check = next(c for c in results["5.1"].checks if c.id == "one_vector")
    assert check.ok and "refuse it: BatchNorm1d (ValueError), Conv1d (RuntimeError)" in check.values
    assert "拒绝：BatchNorm1d（ValueError），Conv1d（RuntimeError）" in check.values_in("zh")
    seed, fixed = results["5.1"].runs
    monkeypatch.setattr(s5_1, "TAKE_ONE_VECTOR", (*s5_1.TAKE_ONE_VECTOR, "BatchNorm1d"))  # a wrong claim
    ok, values = s5_1.check(seed, fixed)["one_vector"]
    assert not ok and "take (3,): Linear, Sigmoid, Dropout, LayerNorm;" in values["en"]


def test_lesson_7_2_checks_the_step_its_verdict_describes(
    results: dict[str, runner.LessonResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """§7.2's verdict says gradient descent moves w up, towards the w = 1.25 where z = y; nothing took the
    step or computed 1.25. Now a check does both, and fails if the verdict's 1.25 were wrong."""
    from torchprimer.lessons import s7_2

    descent = next(c for c in results["7.2"].checks if c.id == "descent")
    assert descent.ok and descent.values == "w 1.0 -> 1.2, loss 0.25 -> 0.01;  z = y at w = (y - b)/x = 1.25"
    assert "w = 1.25 where z = y" in results["7.2"].text["en"]["verdict"]
    assert "使 z = y 的 w = 1.25" in results["7.2"].text["zh"]["verdict"]
    seed, fixed = results["7.2"].runs
    monkeypatch.setattr(s7_2, "SAID_TARGET", 1.5)
    assert not s7_2.check(seed, fixed)["descent"][0]


def test_lesson_4_1_verdict_numbers_come_from_the_statistics_it_cites() -> None:
    """The verdict's "means up to 0.18 and stds up to 1.16" were typed into both languages' sentences; they are
    now worked out from the ImageNet and published CIFAR-10 statistics the lesson's check uses."""
    from torchprimer.lessons import s4_1

    (im_mean, im_std), (c_mean, c_std) = s4_1.IMAGENET, s4_1.CIFAR10_PUBLISHED
    worst_mean = max(abs(c - m) / s for c, m, s in zip(c_mean, im_mean, im_std, strict=True))
    worst_std = max(c / s for c, s in zip(c_std, im_std, strict=True))
    for lang in ("en", "zh"):
        verdict = " ".join(s4_1.TEXT[lang]["verdict"].split())
        assert f"{worst_mean:.2f}" in verdict and f"{worst_std:.2f}" in verdict
        assert str(im_mean) in verdict and str(tuple(c_std)) in verdict and "{" not in verdict


def test_lesson_4_1_shows_its_own_statistics_as_numbers(results: dict[str, runner.LessonResult]) -> None:
    """The means read ['-5.4e-10', '+7.7e-09', ...]: Python's repr of strings, quotes and all."""
    own = next(c for c in results["4.1"].checks if c.id == "own_statistics")
    for lang in ("en", "zh"):
        shown = own.values_in(lang)
        assert "'" not in shown and re.search(r"\[[-+]\d\.\de[-+]\d\d, ", shown), shown
