"""Shared fixtures: every test runs offline, on the CPU, with its own cache and run folders."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private data cache per test session, so tests never read a user's cache."""
    cache = tmp_path_factory.getbasetemp() / "cache"
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(cache))


def fails(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run `torchprimer ARGV` in this process; it must exit 2 with one line on stderr ("error: ..."),
    which is returned: how every refusal of bad input looks."""
    from torchprimer.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run `python -m torchprimer ARGS` in a subprocess, as a user would from a shell."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "torchprimer", *args], cwd=cwd, env=full_env,
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def stderr_after_stop(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """The stderr of a process sent a stop, once it has ended. One that runs on is killed and the test fails
    with what it had printed, rather than with a bare TimeoutExpired that hides where it was."""
    try:
        return proc.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        err = proc.communicate()[1]
        pytest.fail(f"still running {timeout:.0f} s after the stop; its stderr ended: {err[-3000:]}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


# ----- the playground's tests (test_ui_api.py, test_ui_session.py) -------------------------------

UI_SMALL: dict[str, object] = {"dataset": "moons", "n_samples": 200, "batch_size": 16, "hidden": [4, 3]}
WAIT = 30.0  # seconds a condition may take on a busy machine; tests poll, never assert a duration


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Poll `condition` until it holds or `timeout` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


class FakeNetwork:
    """The internet as torchvision's download sees it: `urllib.request.urlopen`, which its download_url (and
    the redirect check before it) calls. A file named in `files` is served; any other is not found. With
    `cut`, only a file's first 100 bytes go out and then `cut` is raised mid-transfer, after torchvision has
    opened the file in the data folder and begun writing it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes],
                 cut: BaseException | None = None) -> None:
        self.files, self.cut, self.sent = files, cut, []
        monkeypatch.setattr(urllib.request, "urlopen", self.urlopen)

    def urlopen(self, request, *args, **kwargs):
        url = request.full_url
        if request.get_header("Method") == "HEAD":  # torchvision's redirect check
            return self.Response(url, b"", None)
        name = url.rsplit("/", 1)[1]
        if name not in self.files:
            raise urllib.error.URLError(f"404 Not Found: {url}")
        self.sent.append(name)
        body = self.files[name]
        return self.Response(url, body if self.cut is None else body[:100], self.cut)

    class Response(io.BytesIO):
        def __init__(self, url: str, body: bytes, cut: BaseException | None) -> None:
            super().__init__(body)
            self.url, self.length, self.cut = url, len(body), cut

        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            if not chunk and self.cut is not None:
                raise self.cut
            return chunk


def refused_in_both_languages(argv: list[str], capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The one stderr line of `torchprimer ARGV` under an English locale (no --lang) and with --lang zh;
    a Chinese locale without --lang must give the same Chinese line."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    en, zh = fails(argv, capsys), fails([*argv, "--lang", "zh"], capsys)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert fails(argv, capsys) == zh
    return en, zh


def says_the_same_in_chinese(en: str, zh: str, kept: re.Pattern[str], names: set[str]) -> None:
    """The Chinese line is Chinese, in Chinese punctuation, and keeps every token `kept` finds in the
    English (options, quoted values, numbers), words only where they are among `names`."""
    from test_tour import CJK, _ascii_punctuation_in_chinese

    assert not CJK.search(en) and CJK.search(zh), (en, zh)
    assert _ascii_punctuation_in_chinese(zh) == [], zh
    tokens = [t for t in kept.findall(en) if not t[0].isalpha() or t in names]
    assert sorted(tokens) == sorted(t for t in kept.findall(zh) if not t[0].isalpha() or t in names), (en, zh)
