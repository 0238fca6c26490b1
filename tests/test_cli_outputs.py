"""`lr-find`: its --plot is checked before the test runs, and it suggests no rate where the loss never falls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchprimer.cli import main
from torchprimer.fileio import check_output_file, strict_json
from torchprimer.training import lr_find


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize(("plot", "message"), [
    ("{tmp}/notes.txt", "--plot {tmp}/notes.txt: the file is written as a PNG file, so its name must end in .png "
     "(any case), e.g. --plot {tmp}/notes.png"),
    ("{tmp}/lr", "so its name must end in .png"),
    ("", "Invalid value for '--plot': it is empty"),
    ("{tmp}", "cannot write {tmp}: Is a directory; choose another path"),
    ("{tmp}/notes.txt/lr.png", "notes.txt is a file, not a folder"),
])
def test_lr_find_checks_its_plot_before_the_test(
    plot: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--plot notes.txt` once overwrote the notes with PNG bytes, after the whole range test."""
    (tmp_path / "notes.txt").write_text("my notes")
    monkeypatch.setattr(lr_find, "lr_range_test", lambda *a, **k: pytest.fail("ran before checking --plot"))
    code, _, err = _run(capsys, "lr-find", "--plot", plot.format(tmp=tmp_path))
    assert code == 2 and err.count("\n") == 1 and message.format(tmp=tmp_path) in err, err
    assert (tmp_path / "notes.txt").read_text() == "my notes"


@pytest.mark.parametrize(("start", "end", "steps", "advice"), [
    ("100", "1000", "20", "before it diverged: it rose from the start, so every rate tried is too high; start lower, "
     "e.g. --start 1e-07"),
    ("1e-11", "1e-10", "20", "the rates tried are too small to train in this many steps; widen the range upwards, "
     "e.g. --end 10"),
    # flat at 1e-7.., exploding near 1: the rates between had a step each. It said "too high; start lower".
    ("1e-7", "10", "10", "before it diverged: it stayed flat at the low rates and rose at the high ones, so the "
     "rates between got too few of the 10 steps to show a fall; give more --steps, e.g. --steps 40"),
])
def test_lr_find_suggests_nothing_when_the_loss_never_falls(
    start: str, end: str, steps: str, advice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first two once 'suggested' a rate (120 and 1e-300) from the noise of a flat or exploding curve; the
    third left out that the sweep diverged, as the first says."""
    plot = tmp_path / "LR.PNG"  # any case of .png
    code, out, _ = _run(capsys, "lr-find", "--start", start, "--end", end, "--steps", steps, "--plot", str(plot))
    assert code == 0 and out.startswith("no learning rate can be suggested: the loss never fell 5% below"), out
    assert advice in out and "suggested learning rate" not in out and plot.read_bytes()[:4] == b"\x89PNG"
    code, out, _ = _run(capsys, "lr-find", "--start", start, "--end", end, "--steps", steps, "--plot", str(plot),
                        "--json")
    result = json.loads(out)
    assert result["suggestion"] is None and advice in result["no_suggestion"]


def test_lr_find_still_suggests_where_the_loss_falls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lr-find", "--start", "1e-3", "--end", "1e-1", "--steps", "30", "--plot",
                        str(tmp_path / "lr.png"), "--json")
    result = json.loads(out)
    assert code == 0 and result["no_suggestion"] is None and 1e-3 <= result["suggestion"] <= 1e-1


def test_check_output_file_and_strict_json() -> None:
    from torchprimer.errors import UserError

    assert check_output_file("a/b.Svg", "--out", (".dot", ".svg"), "g.dot") == Path("a/b.Svg")
    with pytest.raises(UserError, match=r"--out names no file \(it is empty\); give a file name, e\.g\. --out x\.png"):
        check_output_file("", "--out", (".png",), "x.png")
    with pytest.raises(UserError, match=r"cannot write \.: Is a directory"):
        check_output_file(".", "--out", (".png",), "x.png")
    assert strict_json({"a": [float("nan"), 1.5, (float("-inf"),)], "b": "nan"}) == {"a": [None, 1.5, [None]],
                                                                                     "b": "nan"}


@pytest.mark.parametrize(("extra", "says"), [
    ([], "lowest val loss at epoch {best}, tested on the final weights)"),
    (["--early-stopping", "50"], "lowest val loss at epoch {best}, whose weights are kept)"),
])
def test_the_summary_says_which_weights_were_tested_and_which_loss(
    extra: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """'best epoch 9' beside test figures of epoch 10's weights read as epoch 9's; a label-smoothed loss
    (0.46 where plain cross-entropy is 0.34) was called plain 'test loss'."""
    argv = ["train", "--dataset", "moons", "--epochs", "4", "--label-smoothing", "0.2", "--out", str(tmp_path)]
    code, out, _ = _run(capsys, *argv, *extra)
    summary = json.loads(next(tmp_path.glob("*/summary.json")).read_text())
    assert code == 0 and says.format(best=summary["best_epoch"]) in out, out
    assert f"test loss (label smoothing 0.2) {summary['test_loss']:.4f}" in out


def test_a_name_too_long_and_a_full_disk_are_one_line_and_leave_the_old_file(tmp_path: Path) -> None:
    """A file name over 255 bytes made Path.is_dir() raise (a traceback from every --plot, --out);
    a writer meeting a full disk (savefig, write_bytes) was a traceback too."""
    import errno

    from torchprimer.errors import UserError
    from torchprimer.fileio import check_output_folder, write_atomic, write_text

    long = tmp_path / ("a" * 300 + ".png")
    with pytest.raises(UserError, match="File name too long; choose another path"):
        check_output_file(long, "--plot", (".png",), "x.png")
    with pytest.raises(UserError, match="File name too long"):
        check_output_folder(tmp_path / ("b" * 300))
    kept = write_text(tmp_path / "kept.txt", "old")

    def full(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(UserError, match=r"cannot write .*kept\.txt: No space left on device; free some space"):
        write_atomic(kept, full)
    assert kept.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]


def test_a_folder_no_file_can_be_made_in_is_refused_before_the_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`lr-find --plot /proc/x.png` ran the whole range test, then failed to save. Root passes every permission
    check (os.access), so the checks make a file there and remove it; they leave nothing behind."""
    from torchprimer.errors import UserError
    from torchprimer.fileio import check_output_folder

    monkeypatch.setattr(lr_find, "lr_range_test", lambda *a, **k: pytest.fail("ran before checking --plot"))
    if Path("/proc/self").is_dir():  # a file system where files cannot be made, even by root
        code, _, err = _run(capsys, "lr-find", "--plot", "/proc/lr.png")
        assert code == 2 and "cannot write /proc/lr.png: a file cannot be made in /proc" in err, err
    check_output_file(tmp_path / "new" / "deeper" / "lr.png", "--plot", (".png",), "lr.png")  # made later
    check_output_folder(tmp_path / "runs")
    assert list(tmp_path.iterdir()) == []

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", read_only)
    with pytest.raises(UserError, match=r"a file cannot be made in .* \(Permission denied\); choose another"):
        check_output_file(tmp_path / "lr.png", "--plot", (".png",), "lr.png")
    with pytest.raises(UserError, match=r"cannot write .*runs: a file cannot be made in"):
        check_output_folder(tmp_path / "runs")


def test_a_dot_name_is_suggested_a_real_name_not_a_doubled_suffix() -> None:
    from torchprimer.errors import UserError

    with pytest.raises(UserError, match=r"e\.g\. --plot lr_find\.png$"):  # was "--plot .png.png"
        check_output_file(".png", "--plot", (".png",), "lr_find.png")


def test_a_narrow_range_suggests_where_the_loss_falls_fastest() -> None:
    """In float32 the logs of rates 1e-9 apart were equal: every slope came out inf or NaN, and the
    suggestion was the second rate, though the loss fell fastest from the sixth on."""
    lrs = [1e-3 * (1 + 1e-9) ** i for i in range(20)]
    losses = [2.0 - (0.001 * i if i < 5 else 0.005 + 0.05 * (i - 5)) for i in range(20)]
    assert lrs.index(lr_find._steepest(lrs, losses)) >= 5
