"""The one small runner every lesson shares: find lessons, run their code, render the result.

A lesson is one module `s<section>.py` in this package (s4_2.py is §4.2) holding data:

- ``SECTION``: "4.2"
- ``TEXT``: {"en": {...}, "zh": {...}} with "title", "intro", "verdict" and optionally
  "fixed_title" (the heading over the tour's own code)
- ``SETUP``: code the tour runs first in each fresh namespace (what the seed assumes from
  earlier sections), shown to the reader; "" for none
- ``SEED``: the seed's code as the seed wrote it, or None where the seed has none
- ``FIXED``: the corrected (or checking) code, or None
- ``CHECKS``: {check_id: {"en": claim, "zh": claim}}
- ``check(seed, fixed) -> {check_id: (ok, values)}``: runs after the code; ``values`` is a
  str, or {"en": ..., "zh": ...} when its labels differ by language

Code fields are a str, or {"en": ..., "zh": ...} when the comments differ by language; the
two must be the same code token for token, except for a `lang="zh"` argument that makes a
call print Chinese (a test checks). The English code is run, and `check` reads that run; a
language whose code differs beyond its comments is also run on its own, so what a reader sees
printed is what the code shown to them printed. The tour's own code is written once, with
English comments, and `bilingual` builds the Chinese variant from a table of those comments;
the seed's code stays as the seed wrote it.
Adding a lesson is adding one file: `discover` finds it by its name.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import re
import time
import tokenize
import traceback
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from torchprimer.errors import UserError
from torchprimer.report import display_width

LANGS = ("en", "zh")
MODULE_NAME = re.compile(r"^s(\d+)(?:_(\d+))?$")

Code = str | dict[str, str]

HEADINGS = {
    "en": {
        "setup": "The tour first runs (what the seed assumes from earlier sections):",
        "seed": "The seed's code, as the seed wrote it:",
        "no_seed": "(The seed has no code here.)",
        "fixed": "The corrected code:",
        "output": "What it prints:",
        "nothing": "(nothing)",
        "raised": "It raised: {error}",
        "warned": "warning: {warning}",
        "line": "line {line}: ",
        "checks": "Checks:",
        "summary": "{passed}/{total} checks passed in {seconds:.2f} s",
        "all": "{lessons} lessons, {passed}/{total} checks passed in {seconds:.1f} s",
        "list": "The tour: one lesson per section of the seed. Run one with `torchprimer tour N`, "
        "all with `torchprimer tour --all`.",
    },
    "zh": {
        "setup": "导览先运行以下代码（原教程默认读者已从前面章节得到的东西）：",
        "seed": "原教程的代码（一字未改）：",
        "no_seed": "（原教程这一节没有代码。）",
        "fixed": "修正后的代码：",
        "output": "输出：",
        "nothing": "（无输出）",
        "raised": "抛出异常：{error}",
        "warned": "警告：{warning}",
        "line": "第 {line} 行：",
        "checks": "检查：",
        "summary": "{passed}/{total} 项检查通过，用时 {seconds:.2f} 秒",
        "all": "{lessons} 课，{passed}/{total} 项检查通过，用时 {seconds:.1f} 秒",
        "list": "导览：原教程每一节对应一课。用 `torchprimer tour N` 运行一课，"
        "用 `torchprimer tour --all` 运行全部。",
    },
}


@dataclass
class Run:
    """One snippet, run once in a fresh namespace: what it printed, raised and warned.

    This is the English code's run; `other` holds the run of each language whose code
    differs beyond its comments.
    """

    label: str
    code: dict[str, str]
    stdout: str
    error: str | None
    warnings: list[str]
    seconds: float
    namespace: dict[str, Any] = field(repr=False)
    other: dict[str, Run] = field(default_factory=dict, repr=False)

    def shown(self, lang: str) -> Run:
        """The run whose output a reader of `lang` sees: that language's own code's, where it has one."""
        return self.other.get(lang, self)


@dataclass
class Check:
    """One claim the lesson tested: passed or not, with the values that decided it."""

    id: str
    ok: bool
    values: str
    text: dict[str, str]
    translated: dict[str, str] = field(default_factory=dict)  # `values` in other languages, where check gave them

    def values_in(self, lang: str) -> str:
        """`values` as `lang` reads them: the check's own translation, else as given, where an error
        quoted from a run (§4.1's NameError) names its line in `lang`."""
        return self.translated.get(lang, error_in(self.values, lang))


@dataclass
class LessonResult:
    section: str
    text: dict[str, dict[str, str]]
    setup: dict[str, str]
    runs: list[Run]
    checks: list[Check]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def section_key(section: str) -> tuple[int, ...]:
    return tuple(int(p) for p in section.split("."))


def discover() -> dict[str, ModuleType]:
    """Every lesson module in this package, by section, in the seed's order."""
    package = importlib.import_module("torchprimer.lessons")
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if MODULE_NAME.match(info.name):
            module = importlib.import_module(f"torchprimer.lessons.{info.name}")
            found[module.SECTION] = module
    return dict(sorted(found.items(), key=lambda item: section_key(item[0])))


# Sections of the seed with no snippet a lesson could run, and the lesson that covers them: a learner
# following the seed's numbering is sent on, not only told that the number is unknown.
COVERED_ELSEWHERE = {
    "2.1": ("§2.1's conda commands install packages, which a lesson does not run; lesson 2.2 checks the "
            "install they make, and 'torchprimer doctor' says how to fix it",
            "§2.1 的 conda 命令是安装软件包，课程不会运行它们；第 2.2 课检查它们装好的环境，"
            "'torchprimer doctor' 会说明如何修复", "2.2"),
    "6.1": ("§6.1's table of what training needs (model, loss, optimiser, data, epochs) is lost from the seed; "
            "lesson 6.2 runs each of them",
            "原文 §6.1 中训练所需要素（模型、损失、优化器、数据、轮数）的表格已丢失；第 6.2 课逐一运行了它们", "6.2"),
}


def find(number: str, lessons: dict[str, ModuleType] | None = None) -> ModuleType:
    """The lesson for "4.2" (or "§4.2"); a bare "3" picks §3.1 when it is the only lesson of §3."""
    lessons = lessons if lessons is not None else discover()
    wanted = number.strip().lstrip("§")
    if wanted in lessons:
        return lessons[wanted]
    matches = [s for s in lessons if s.split(".")[0] == wanted]
    if len(matches) == 1:
        return lessons[matches[0]]
    known = ", ".join(lessons)
    if wanted in COVERED_ELSEWHERE and COVERED_ELSEWHERE[wanted][-1] in lessons:
        reason, reason_zh, lesson = COVERED_ELSEWHERE[wanted]
        raise UserError(f"no lesson {number!r}: {reason}; run 'torchprimer tour {lesson}'",
                        zh=f"没有课程 {number!r}：{reason_zh}；请运行 'torchprimer tour {lesson}'")
    if matches:
        raise UserError(f"lesson {number!r} is ambiguous: say {' or '.join(matches)}",
                        zh=f"课程 {number!r} 有歧义：请写 {' 或 '.join(matches)}")
    raise UserError(f"no lesson {number!r}; the lessons are {known} (run 'torchprimer tour' to list them)",
                    zh=f"没有课程 {number!r}；现有的课程是 {known}（运行 'torchprimer tour' 列出它们）")


def code_in(code: Code, lang: str) -> str:
    return code if isinstance(code, str) else code[lang]


def per_lang(code: Code) -> dict[str, str]:
    return {lang: code_in(code, lang) for lang in LANGS}


def bilingual(code: str, zh: dict[str, str]) -> dict[str, str]:
    """`code` in both languages: each whole comment `# <English>` that `zh` names becomes `# <Chinese>`.

    Comments `zh` leaves out (a printed value, say) read the same in both.
    """
    translated = code
    for english, chinese in zh.items():
        comment = f"# {english}\n"
        if code.count(comment) != 1:
            raise ValueError(f"the comment {comment.strip()!r} is not in the code exactly once")
        translated = translated.replace(comment, f"# {chinese}\n")
    return {"en": code, "zh": translated}


def code_tokens(code: str) -> list[str]:
    """The code without its comments and layout: what Python runs."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    return [t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in skip]


ERROR_LINE = re.compile(r"^line (\d+): (?=\w+: )")  # how _error_line starts: "line 9: NameError: ..."


def _error_line(exc: BaseException, filename: str) -> str:
    """'line 9: NameError: ...' with the line inside the snippet where it was raised."""
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    where = HEADINGS["en"]["line"].format(line=lines[-1]) if lines else ""
    return f"{where}{type(exc).__name__}: {exc}"


def error_in(error: str, lang: str) -> str:
    """A run's error as `lang` shows it: "line 9: " is the tour's own words, so Chinese reads
    "第 9 行：" (with its full-width colon); what Python raised stays as Python said it."""
    return ERROR_LINE.sub(lambda m: HEADINGS[lang]["line"].format(line=m.group(1)), error, count=1)


def execute(label: str, code: Code, setup: Code, section: str) -> Run:
    """Run setup then code in English, and again in each language whose code differs beyond its comments."""
    run = _execute(label, code, setup, section, "en")
    for lang in LANGS:
        if lang != "en" and any(code_tokens(code_in(c, lang)) != code_tokens(code_in(c, "en")) for c in (setup, code)):
            run.other[lang] = _execute(label, code, setup, section, lang)
    return run


def _execute(label: str, code: Code, setup: Code, section: str, lang: str) -> Run:
    """Run setup then code with exec in a fresh namespace, capturing stdout, the error and warnings.

    The global random state is forked and seeded with 0, so a lesson prints the same
    numbers every time and leaves the caller's random state as it was.
    """
    namespace: dict[str, Any] = {"__name__": f"__tour_{section.replace('.', '_')}__"}
    filename = f"<§{section} {label}>"
    out = io.StringIO()
    error = None
    started = time.perf_counter()
    with (
        torch.random.fork_rng(devices=[]),
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(out),
    ):
        warnings.simplefilter("always")
        torch.manual_seed(0)
        try:
            setup_code = code_in(setup, lang)
            if setup_code:
                exec(compile(setup_code, f"<§{section} setup>", "exec"), namespace)
            exec(compile(code_in(code, lang), filename, "exec"), namespace)
        except Exception as exc:  # the seed's mistakes are part of the lesson
            error = _error_line(exc, filename)
    seconds = time.perf_counter() - started
    messages = [f"{w.category.__name__}: {w.message}" for w in caught if w.filename == filename]
    return Run(label, per_lang(code), out.getvalue(), error, messages, seconds, namespace)


def run_lesson(module: ModuleType) -> LessonResult:
    """Run the seed's code, the fixed code, then the lesson's checks, on one CPU thread.

    Lesson tensors are tiny: extra threads only add synchronisation (on a busy machine, many
    times the work itself), and one thread makes the printed numbers the same on every
    machine, whatever its core count.
    """
    from torchprimer.autodiff.check import one_cpu_thread

    with one_cpu_thread():
        return _run_lesson(module)


def _run_lesson(module: ModuleType) -> LessonResult:
    started = time.perf_counter()
    setup = getattr(module, "SETUP", "")
    seed = execute("seed", module.SEED, setup, module.SECTION) if module.SEED is not None else None
    fixed = execute("fixed", module.FIXED, setup, module.SECTION) if module.FIXED is not None else None
    try:
        outcomes = module.check(seed, fixed)
    except Exception as exc:  # a broken lesson fails its checks instead of stopping the tour
        outcomes = {cid: (False, f"the check raised {type(exc).__name__}: {exc}") for cid in module.CHECKS}
    if set(outcomes) != set(module.CHECKS):
        raise RuntimeError(f"lesson §{module.SECTION} returned checks {sorted(outcomes)}, "
                           f"declared {sorted(module.CHECKS)}")
    checks = []
    for cid, text in module.CHECKS.items():
        ok, values = outcomes[cid]
        if isinstance(values, dict) and set(values) != set(LANGS):
            raise RuntimeError(f"lesson §{module.SECTION}, check {cid}: values in {sorted(values)}, need {LANGS}")
        per = {lang: str(v) for lang, v in values.items()} if isinstance(values, dict) else {"en": str(values)}
        translated = {lang: v for lang, v in per.items() if lang != "en"}
        checks.append(Check(cid, bool(ok), per["en"], dict(text), translated))
    runs = [r for r in (seed, fixed) if r is not None]
    return LessonResult(module.SECTION, module.TEXT, per_lang(setup), runs, checks, time.perf_counter() - started)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else prefix.rstrip() for line in text.rstrip("\n").split("\n"))


def render(result: LessonResult, lang: str) -> str:
    """The lesson as text for a terminal or a log, in one language."""
    h = HEADINGS[lang]
    text = result.text[lang]
    title = f"§{result.section} {text['title']}"
    parts = [title, "=" * min(display_width(title), 72), text["intro"].strip(), ""]
    if result.setup[lang].strip():
        parts += [h["setup"], _indent(result.setup[lang]), ""]
    if not any(r.label == "seed" for r in result.runs):
        parts += [h["no_seed"], ""]
    for run in result.runs:
        heading = h["seed"] if run.label == "seed" else text.get("fixed_title", h["fixed"])
        shown = run.shown(lang)
        parts += [heading, _indent(run.code[lang]), "", h["output"]]
        parts.append(_indent(shown.stdout, "  | ") if shown.stdout.strip() else "  " + h["nothing"])
        parts += ["  ! " + h["warned"].format(warning=w) for w in shown.warnings]
        if shown.error:
            parts.append("  ! " + h["raised"].format(error=error_in(shown.error, lang)))
        parts.append("")
    parts += [text["verdict"].strip(), "", h["checks"]]
    for check in result.checks:
        mark = "PASS" if check.ok else "FAIL"
        parts.append(f"  {mark}  {check.text[lang]}")
        parts.append(_indent(check.values_in(lang), "          "))
    passed = sum(c.ok for c in result.checks)
    parts.append(h["summary"].format(passed=passed, total=len(result.checks), seconds=result.seconds))
    return "\n".join(parts) + "\n"


def as_json(result: LessonResult, lang: str) -> dict[str, Any]:
    """The lesson as plain data in one language: its code, what that code printed, and the checks."""
    text = result.text[lang]
    return {
        "section": result.section,
        "title": text["title"],
        "intro": text["intro"].strip(),
        "verdict": text["verdict"].strip(),
        "setup": result.setup[lang],
        "runs": [
            {"label": r.label, "code": r.code[lang], "stdout": s.stdout,
             "error": error_in(s.error, lang) if s.error else None,
             "warnings": s.warnings, "seconds": s.seconds}
            for r, s in ((r, r.shown(lang)) for r in result.runs)
        ],
        "checks": [
            {"id": c.id, "ok": c.ok, "claim": c.text[lang], "values": c.values_in(lang)} for c in result.checks
        ],
        "ok": result.ok,
        "seconds": result.seconds,
    }


def listing(lang: str, lessons: dict[str, ModuleType] | None = None) -> list[dict[str, str]]:
    lessons = lessons if lessons is not None else discover()
    return [{"section": s, "title": m.TEXT[lang]["title"]} for s, m in lessons.items()]


def render_listing(lang: str) -> str:
    rows = listing(lang)
    width = max(len(r["section"]) for r in rows)
    lines = [HEADINGS[lang]["list"], ""]
    lines += [f"  {r['section']:<{width}}  {r['title']}" for r in rows]
    return "\n".join(lines) + "\n"


def render_total(results: list[LessonResult], lang: str, seconds: float) -> str:
    checks = [c for r in results for c in r.checks]
    return HEADINGS[lang]["all"].format(
        lessons=len(results), passed=sum(c.ok for c in checks), total=len(checks), seconds=seconds
    ) + "\n"


def default_lang(environ: dict[str, str]) -> str:
    """zh when the locale is Chinese (LC_ALL, then LC_MESSAGES, then LANG, as POSIX orders them)."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def check_lang(lang: str | None, environ: dict[str, str]) -> str:
    if lang is None:
        return default_lang(environ)
    if lang not in LANGS:
        raise UserError(f"--lang {lang!r}: use en or zh (请用 en 或 zh)")  # no language chosen yet: both
    return lang
