"""The tour (seed §1–§7): every Python snippet of the seed run, checked and, where wrong, corrected.

One module per seed section (`s4_2.py` is §4.2); `runner` finds them, runs their code in
fresh namespaces and renders the result in English or Chinese.
"""

from torchprimer.lessons.runner import (
    LANGS,
    Check,
    LessonResult,
    Run,
    as_json,
    check_lang,
    default_lang,
    discover,
    find,
    listing,
    render,
    render_listing,
    render_total,
    run_lesson,
)

__all__ = [
    "LANGS",
    "Check",
    "LessonResult",
    "Run",
    "as_json",
    "check_lang",
    "default_lang",
    "discover",
    "find",
    "listing",
    "render",
    "render_listing",
    "render_total",
    "run_lesson",
]
