"""Files and folders this user may not read or write: another user's data, a shared folder like /tmp,
a read-only output, a run folder trained by someone else.

Root may read and write nearly everything, and the test suite often runs as root, so these tests act
as another user where the rule depends on who is asking: `os.geteuid` says a uid that owns none of the
test's files, and, where root's `os.access` would say yes to a read-only file, access follows the mode
bits. The files, folders, modes and sticky bits are real. A refusal must come before the work whose
result it would lose, in one line, exit code 2, and leave what was there as it was."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import fails

import torchprimer
from torchprimer import fileio
from torchprimer.errors import UserError

QUICK = {"dataset": "moons", "n_samples": 200, "hidden": (8,), "progress": "none"}


@pytest.fixture
def another_user(monkeypatch: pytest.MonkeyPatch) -> int:
    """Act as a uid that owns none of the test's files; `os.access` answers for it from the mode bits
    ("other"), as the system would for such a user."""
    uid = os.getuid() + 4242
    monkeypatch.setattr(os, "geteuid", lambda: uid)

    def access(path: str | os.PathLike[str], mode: int, **_: object) -> bool:
        bits = os.stat(path).st_mode
        wanted = {os.W_OK: stat.S_IWOTH, os.R_OK: stat.S_IROTH, os.X_OK: stat.S_IXOTH}
        return all(bits & flag for kind, flag in wanted.items() if mode & kind)

    monkeypatch.setattr(os, "access", access)
    return uid


def no_new_files_in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`folder` refuses new files (EACCES), as another user's folder does to this one: torchprimer's writes
    and its checks before them make their files with tempfile.mkstemp."""
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        if Path(str(kwargs.get("dir"))) == folder:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkstemp(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)


def shared_folder(path: Path) -> Path:
    """A folder like /tmp: everyone may make files in it, only a file's owner may replace or remove it."""
    path.mkdir()
    path.chmod(0o1777)
    return path


def test_an_output_file_another_user_owns_in_a_shared_folder_is_refused_before_the_work(
    tmp_path: Path, another_user: int, capsys: pytest.CaptureFixture[str],
) -> None:
    """The rename at the end would fail (EPERM): compare ran every method, then lost its table."""
    theirs = shared_folder(tmp_path / "shared") / "c.png"
    theirs.write_bytes(b"their picture")
    theirs.chmod(0o666)  # writable by all: only the sticky bit stops the rename
    err = fails(["compare", "--methods", "nearest-mean", "--plot", str(theirs)], capsys)
    assert "another user owns it" in err and "(a shared folder, like /tmp)" in err
    assert "choose another path with --plot" in err
    assert theirs.read_bytes() == b"their picture"


def test_a_read_only_output_file_is_kept_and_named(
    tmp_path: Path, another_user: int, capsys: pytest.CaptureFixture[str],
) -> None:
    kept = tmp_path / "a.png"
    kept.write_bytes(b"keep me")
    kept.chmod(0o444)
    err = fails(["activations", "--plot", str(kept)], capsys)
    assert f"cannot replace {kept}: it is read-only; make it writable (chmod u+w) or remove it" in err
    assert kept.read_bytes() == b"keep me"


def test_a_shared_folder_of_ones_own_files_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The sticky bit stops only other users' files: one's own are replaced as anywhere else."""
    from torchprimer.cli import main

    mine = shared_folder(tmp_path / "shared") / "a.png"
    mine.write_bytes(b"old")
    with pytest.raises(SystemExit) as done:
        main(["activations", "--names", "relu", "--plot", str(mine)])
    assert done.value.code in (0, None), capsys.readouterr().err
    assert mine.read_bytes().startswith(b"\x89PNG")


def test_data_inspect_checks_every_file_it_will_write_before_writing_any(
    tmp_path: Path, another_user: int, capsys: pytest.CaptureFixture[str],
) -> None:
    """One picture it could not replace left the folder half new, half old."""
    out = shared_folder(tmp_path / "insp")
    (out / "pca.png").write_bytes(b"old pca")
    err = fails(["data", "inspect", "digits", "--out", str(out)], capsys)
    assert f"cannot replace {out / 'pca.png'}" in err and "choose another path with --out" in err
    assert sorted(p.name for p in out.iterdir()) == ["pca.png"]


def test_a_resume_that_could_not_write_its_tensorboard_folder_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The run logged to TensorBoard, so the resume logs too; its tensorboard/ folder takes no new files
    (another user's). Found at the first event file, this was a traceback from two threads after
    config.json already promised the new epochs."""
    first = torchprimer.train(out=tmp_path, epochs=1, tensorboard=True, **QUICK)
    board = first.run_dir / "tensorboard"
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()}
    no_new_files_in(board, monkeypatch)
    err = fails(["train", "--resume", str(first.run_dir), "--epochs", "2"], capsys)
    assert f"cannot write {board}: a file cannot be made in {board} (Permission denied)" in err
    assert "copy the run folder somewhere you can write and resume the copy" in err
    assert {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()} == before


def test_a_resume_in_a_shared_run_folder_with_another_users_checkpoint_changes_nothing(
    tmp_path: Path, another_user: int, capsys: pytest.CaptureFixture[str],
) -> None:
    """config.json was rewritten before the checkpoint's rename failed, and a later plain --resume of
    the finished run trained the epochs that had been refused."""
    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    first.run_dir.chmod(0o1777)
    for path in first.run_dir.iterdir():
        path.chmod(0o666)
    before = {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()}
    err = fails(["train", "--resume", str(first.run_dir), "--epochs", "3"], capsys)
    assert f"cannot replace {first.run_dir / 'config.json'}: another user owns it" in err
    assert err.rstrip().endswith("copy the run folder somewhere you can write and resume the copy")
    assert {p.name: p.read_bytes() for p in first.run_dir.iterdir() if p.is_file()} == before


def test_a_file_this_user_may_not_read_is_one_line_wherever_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """csv, MNIST's files, and any reader without a check of its own: PermissionError, the traceback
    and exit 1 before, is one line naming the path."""
    data = tmp_path / "set.csv"
    data.write_text("x,y,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    real_read_text = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self == data:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    err = fails(["data", "stats", f"csv:{data}"], capsys)
    assert err == (f"error: cannot use {data}: Permission denied; check the permissions of it and of the folders "
                   "above it (ls -ld), or use a copy you own\n")


def test_the_permission_line_speaks_chinese_for_a_command_that_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((20, 2), np.float32), y=np.arange(20) % 2)
    from torchprimer.data import npz

    def denied(path: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(npz, "read_arrays", denied)
    err = fails(["compare", "--dataset", f"npz:{data}", "--no-plot", "--lang", "zh"], capsys)
    assert f"无法使用 {data}：Permission denied；请检查它及其上级文件夹的权限" in err


def test_an_image_class_folder_that_cannot_be_read_is_not_called_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """torchvision's walk passes over a folder it may not list, so the class looked empty ("add some
    images") while it held them."""
    from PIL import Image

    root = tmp_path / "imgs"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
    for i in range(4):
        Image.new("L", (8, 8), i * 40).save(root / "cat" / f"{i}.png")
    real_listdir = os.listdir

    def listdir(path: str | os.PathLike[str] = ".") -> list[str]:
        if Path(path) == root / "dog":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    err = fails(["data", "stats", f"imagefolder:{root}"], capsys)
    assert f"imagefolder: cannot read the class folder {root / 'dog'}: Permission denied" in err
    assert "hold no images" not in err


def test_gzipped_mnist_in_a_folder_that_takes_no_files_says_how_to_unpack_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The advice written for this case was never reached: the atomic writer refused first, with
    "choose another path", which says nothing of why a data folder is written to."""
    from torchprimer.data.synthetic import write_mnist

    write_mnist(tmp_path / "data", n_train=60, n_test=20, seed=0, gzipped=True)
    raw = tmp_path / "data" / "MNIST" / "raw"
    no_new_files_in(raw, monkeypatch)
    err = fails(["data", "stats", "mnist", "--data-dir", str(tmp_path / "data")], capsys)
    assert f"into {raw} (no new file can be made there); torchvision reads only uncompressed files" in err
    assert "gunzip it there yourself or copy the folder somewhere writable" in err


def test_an_unreadable_cifar_batch_is_not_called_damaged(tmp_path: Path) -> None:
    """A batch that cannot be opened is no reason to download the set again."""
    from torchprimer.data.cifar import check_pickle

    folder_in_its_place = tmp_path / "data_batch_1"
    folder_in_its_place.mkdir()
    with pytest.raises(UserError, match=r"cannot read the CIFAR-10 batch .*; check its permissions") as refused:
        check_pickle(folder_in_its_place)
    assert "get the batches" not in str(refused.value)


def test_a_summary_that_cannot_be_read_is_refused_not_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Read as "no summary", the weights' checksum in it went unchecked without a word."""
    first = torchprimer.train(out=tmp_path, epochs=1, **QUICK)
    summary = first.run_dir / "summary.json"
    summary.unlink()
    summary.mkdir()  # what root cannot be kept from reading; for another user, a file made private
    err = fails(["evaluate", str(first.run_dir)], capsys)
    assert f"cannot read the run summary {summary}" in err


def test_no_usable_temporary_folder_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """tempfile's own error, met by torch's compiler at start-up and by bench; bench's handler asked
    tempfile for the folder again and raised inside its except block."""
    from torchprimer import bench

    def nowhere(*args: object, **kwargs: object) -> object:
        raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp', '/var/tmp']")

    refusal = fileio.os_refusal(FileNotFoundError(errno.ENOENT, "No usable temporary directory found in []"))
    assert refusal is not None and "set TMPDIR to a folder you can write in" in str(refusal)
    assert fileio.os_refusal(FileNotFoundError(errno.ENOENT, "No such file or directory", "x")) is None
    monkeypatch.setattr(bench.tempfile, "TemporaryDirectory", nowhere)
    monkeypatch.setattr(bench.tempfile, "gettempdir", nowhere)
    with pytest.raises(UserError, match="in a temporary folder: No usable temporary directory"), \
            bench._temporary_folder():
        pass


def test_a_default_out_folder_that_cannot_be_made_names_the_option(tmp_path: Path) -> None:
    """`train` in a folder where "runs" cannot be made: the user never typed that path."""
    blocked = tmp_path / "runs"
    blocked.write_text("a file where the folder would go")
    with pytest.raises(UserError, match="choose another path with --out"):
        torchprimer.train(out=blocked, epochs=1, **QUICK)


def test_a_cache_warning_from_the_command_is_one_line(tmp_path: Path) -> None:
    """Python's form added the file and the source line that warned; the advice is one sentence."""
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would go")
    np.savez(tmp_path / "d.npz", x=np.zeros((40, 3), np.float32), y=np.arange(40) % 2)
    env = {**os.environ, "TORCHPRIMER_CACHE": str(blocked)}
    done = subprocess.run([sys.executable, "-m", "torchprimer", "data", "stats", f"npz:{tmp_path / 'd.npz'}"],
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if "data cache" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: could not write the data cache "), done.stderr
    assert "set TORCHPRIMER_CACHE to a writable folder to cache it" in warned[0]
    assert "cache.py" not in done.stderr and "return cached(" not in done.stderr
