"""Bad input: one clear UserError, nothing cached. Random bytes into every file reader."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeNetwork, fails
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torchprimer import data as tpdata
from torchprimer.data import synthetic
from torchprimer.errors import UserError

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path / "env-cache"))


def load_fails(name: str, cache: Path, match: str, **kw) -> str:
    """Load must raise UserError matching `match`, on one line, leaving the cache empty."""
    with pytest.raises(UserError, match=match) as info:
        tpdata.load(name, tpdata.LoadOptions(cache_dir=cache, **kw))
    assert not list(cache.glob("*.pt")) if cache.exists() else True
    return str(info.value)


def outcome_is_clean(name: str, cache: Path, **kw) -> None:
    """Either the data loads, or a UserError; never another exception, never a cached bad file."""
    try:
        tpdata.load(name, tpdata.LoadOptions(cache_dir=cache, **kw))
    except UserError as exc:
        assert str(exc).strip()
        assert not (cache.exists() and list(cache.glob("*.pt")))


# --- missing things ------------------------------------------------------------------------

def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown data set 'mnits'.*mnist, fashion-mnist.*imagefolder:PATH"):
        tpdata.load("mnits")
    with pytest.raises(UserError, match="needs a path"):
        tpdata.load("npz")
    with pytest.raises(UserError, match="takes no path"):
        tpdata.load("moons:x")


def test_missing_data_dir(tmp_path):
    load_fails("mnist", tmp_path / "c", "--data-dir .* does not exist", data_dir=tmp_path / "nope")
    load_fails("cifar10", tmp_path / "c", "--data-dir .* does not exist", data_dir=tmp_path / "nope")
    # a name over 255 bytes: an OSError traceback from exists()
    load_fails("mnist", tmp_path / "c", r"--data-dir .* cannot be used \(File name too long\)",
               data_dir=tmp_path / ("a" * 300))


@pytest.mark.parametrize("where", ["nope", "a file", "a" * 300])
def test_data_list_refuses_a_data_dir_it_cannot_look_in(where, tmp_path, capsys):
    """`data list --data-dir` with a missing folder listed every downloadable set as absent, as if the folder
    were real; a file was taken the same way and a name over 255 bytes was a traceback."""
    (tmp_path / "a file").write_text("")
    err = fails(["data", "list", "--data-dir", str(tmp_path / where)], capsys)
    assert "leave --data-dir out" in err and "--download" not in err


def test_missing_files_name_them_and_where_to_get_them(tmp_path):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=20, n_test=10)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    msg = load_fails("mnist", tmp_path / "c", "missing t10k-labels-idx1-ubyte", data_dir=tmp_path / "d")
    assert "MNIST/raw" in msg and "--download" in msg and "https://" in msg
    msg = load_fails("kmnist", tmp_path / "c", "missing train-images-idx3-ubyte", data_dir=tmp_path / "d")
    folder = synthetic.write_cifar10(tmp_path / "d", n_train=10, n_test=10)
    (folder / "batches.meta").unlink()
    msg = load_fails("cifar10", tmp_path / "c", "missing batches.meta", data_dir=tmp_path / "d")
    assert "cifar-10-python.tar.gz" in msg


# --- IDX -----------------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [False, True])
def test_truncated_idx(tmp_path, gzipped):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10, gzipped=gzipped)
    name = "train-images-idx3-ubyte" + (".gz" if gzipped else "")
    data = (raw / name).read_bytes()
    if gzipped:
        (raw / name).write_bytes(gzip.compress(gzip.decompress(data)[:-100]))
    else:
        (raw / name).write_bytes(data[:-100])
    msg = load_fails("mnist", tmp_path / "c", "truncated", data_dir=tmp_path / "d")
    assert name in msg
    if gzipped:
        assert not (raw / "train-images-idx3-ubyte").exists()  # a bad .gz is never unpacked


def test_cut_gzip_stream(tmp_path):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10, gzipped=True)
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:15])
    load_fails("mnist", tmp_path / "c", "not a readable gzip file", data_dir=tmp_path / "d")


def test_wrong_magic_idx(tmp_path):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10)
    labels = raw / "train-labels-idx1-ubyte"
    shutil.copy(raw / "train-images-idx3-ubyte", labels)  # an images file where labels belong
    msg = load_fails("mnist", tmp_path / "c", "wrong magic number 0x00000803", data_dir=tmp_path / "d")
    assert "train-labels-idx1-ubyte" in msg and "0x00000801" in msg


def test_idx_counts_and_labels_must_agree(tmp_path):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10)
    (raw / "train-labels-idx1-ubyte").write_bytes(synthetic.idx_bytes(np.zeros(29, np.uint8)))
    load_fails("mnist", tmp_path / "c", "30 images but .* 29 labels", data_dir=tmp_path / "d")
    (raw / "train-labels-idx1-ubyte").write_bytes(synthetic.idx_bytes(np.full(30, 12, np.uint8)))
    load_fails("mnist", tmp_path / "c", "label 12", data_dir=tmp_path / "d")


# --- CIFAR ---------------------------------------------------------------------------------

def test_cifar_batch_of_the_wrong_shape(tmp_path):
    folder = synthetic.write_cifar10(tmp_path, n_train=50, n_test=10)
    entry = {"batch_label": "x", "labels": [0] * 10, "data": np.zeros((10, 3000), np.uint8)}
    (folder / "data_batch_3").write_bytes(pickle.dumps(entry, protocol=2))
    msg = load_fails("cifar10", tmp_path / "c", "3x32x32", data_dir=tmp_path)
    assert "data_batch_3" in msg


def test_cifar_labels_must_match_images(tmp_path):
    folder = synthetic.write_cifar10(tmp_path, n_train=50, n_test=10)
    entry = {"labels": [0] * 9, "data": np.zeros((10, 3072), np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    load_fails("cifar10", tmp_path / "c", "10 images but 9 labels", data_dir=tmp_path)


def test_cifar_label_below_0_is_the_one_named(tmp_path):
    """The message named the largest label (9) when -1 was the one outside 0..9."""
    folder = synthetic.write_cifar10(tmp_path, n_train=50, n_test=10)
    entry = {"labels": [-1] + [9] * 9, "data": np.zeros((10, 3072), np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    load_fails("cifar10", tmp_path / "c", "label -1 is outside 0..9", data_dir=tmp_path)


def test_a_float_image_outside_0_255_is_refused(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "f" / c).mkdir(parents=True)
        Image.fromarray(np.full((4, 4), 300.0, np.float32), mode="F").save(tmp_path / "f" / c / "1.tif")
    load_fails(f"imagefolder:{tmp_path / 'f'}", tmp_path / "c", "a 32-bit float image with values 300..300")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_cifar_pickle_that_would_run_code_is_refused_unrun(tmp_path, monkeypatch):
    folder = synthetic.write_cifar10(tmp_path, n_train=50, n_test=10)
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": _Exploit()}, protocol=2))
    monkeypatch.chdir(tmp_path)
    load_fails("cifar10", tmp_path / "c", "refusing to unpickle", data_dir=tmp_path)
    assert not (tmp_path / "pwned").exists()
    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": _Exploit()}, protocol=4))
    load_fails("cifar10", tmp_path / "c", "not an official CIFAR-10 python batch", data_dir=tmp_path)
    assert not (tmp_path / "pwned").exists()


# --- image folders -------------------------------------------------------------------------

def test_image_folder_without_images(tmp_path):
    (tmp_path / "f" / "cat").mkdir(parents=True)
    (tmp_path / "f" / "dog").mkdir()
    (tmp_path / "f" / "cat" / "notes.txt").write_text("no images here")
    load_fails(f"imagefolder:{tmp_path / 'f'}", tmp_path / "c", "class folder.s. cat, dog in .* hold no images")
    from PIL import Image

    Image.new("L", (4, 4)).save(tmp_path / "f" / "cat" / "1.png")  # only dog is empty now: name it alone
    load_fails(f"imagefolder:{tmp_path / 'f'}", tmp_path / "c", r"class folder\(s\) dog in .* hold no images")
    (tmp_path / "empty").mkdir()
    load_fails(f"imagefolder:{tmp_path / 'empty'}", tmp_path / "c", "no class sub-folders")
    load_fails(f"imagefolder:{tmp_path / 'absent'}", tmp_path / "c", "is not a folder")


def test_image_folder_with_an_unreadable_image_names_it(tmp_path):
    root = synthetic.write_image_folder(tmp_path / "f")
    bad = root / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    msg = load_fails(f"imagefolder:{root}", tmp_path / "c", "cannot read image")
    assert str(bad) in msg


def test_image_size_is_checked(tmp_path):
    root = synthetic.write_image_folder(tmp_path / "f")
    load_fails(f"imagefolder:{root}", tmp_path / "c", "--image-size 0", image_size=0)


# --- csv and npz ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "match"), [
    ("a,b,label\n1,2,0\n3,4\n5,6,1\n", "row 3 has 2 fields, but rows have 3"),
    ("a,b,label\n1,2,0\n3,4,cat\n", "row 3, column 3 has the non-numeric label 'cat'"),
    ("1,2,0\n3,x,1\n", "row 2, column 2 has the non-numeric value 'x'"),
    # a first sample with a missing value is refused, not dropped as a header (it was, silently)
    ("1.0,,0\n2.0,3.0,1\n0.5,1,0\n", "row 1, column 2 is empty"),
    ("1.0,?,0\n2.0,3.0,1\n0.5,1,0\n", "row 1, column 2 has the non-numeric value '?'"),
    # rows are numbered as an editor numbers lines, blank lines included
    ("a,b,label\n\n1,2,0\n\n\n3,x,1\n", "row 6, column 2 has the non-numeric value 'x'"),
    ("1,2,0\n3,4,1.5\n", "labels must be whole numbers"),
    ("1,2,0\n3,nan,1\n", "finite"),
    ("1,2,0\n3,4,0\n", "at least two classes"),
    ("a,b\n", "header but no data"),
    ("", "no rows"),
    # a spreadsheet's CSV with other separators read as one field: "at least two fields" hid why
    ("a;b;label\n1;2.5;0\n3;4;1\n", "its values are separated by semicolons, not commas"),
    ("1;2;0\n3;4;1\n", "separated by semicolons"),
    ("1\t2\t0\n3\t4\t1\n", "separated by tabs"),
    ("Sensor readings\n1\n2\n", "rows need at least two fields"),  # a one-column file stays what it is
])
def test_bad_csv(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    load_fails(f"csv:{path}", tmp_path / "c", match)


def test_npz_without_x_names_the_arrays_it_holds(tmp_path):
    np.savez(tmp_path / "upper.npz", X=np.zeros((4, 2)), Y=np.array([0, 1, 0, 1]))
    load_fails(f"npz:{tmp_path / 'upper.npz'}", tmp_path / "c", "has no array 'x' \\(it holds 'X', 'Y'\\)")


def test_features_past_float32_are_refused_in_one_line_without_a_warning(tmp_path):
    """float64 features of 1e300 printed numpy's two-line "RuntimeWarning: overflow encountered in cast"
    before the error line; the error line alone is printed now."""
    import warnings

    np.savez(tmp_path / "h64.npz", x=np.full((20, 64), 1e300), y=np.arange(20) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = load_fails(f"npz:{tmp_path / 'h64.npz'}", tmp_path / "c", "numbers too large for float32")
    assert message == (f"npz: {tmp_path / 'h64.npz'} x: features contain NaN or infinity (or numbers too large for "
                       "float32); clean or impute them first")


def test_missing_csv_and_npz(tmp_path):
    load_fails(f"csv:{tmp_path / 'x.csv'}", tmp_path / "c", "x.csv does not exist")
    load_fails(f"npz:{tmp_path / 'x.npz'}", tmp_path / "c", "x.npz does not exist")
    (tmp_path / "folder").mkdir()
    load_fails(f"csv:{tmp_path / 'folder'}", tmp_path / "c", "folder is a folder, not a file")
    load_fails(f"npz:{tmp_path / 'folder'}", tmp_path / "c", "folder is a folder, not a file")


def test_bad_npz(tmp_path):
    np.savez(tmp_path / "noy.npz", x=np.zeros((4, 2)))
    load_fails(f"npz:{tmp_path / 'noy.npz'}", tmp_path / "c", "no array 'y'")
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}] * 4, dtype=object), y=np.arange(4))
    load_fails(f"npz:{tmp_path / 'obj.npz'}", tmp_path / "c", "not a readable .npz|pickled")
    np.savez(tmp_path / "n.npz", x=np.array([[0.0], [np.nan], [1.0], [2.0]]), y=np.array([0, 1, 0, 1]))
    load_fails(f"npz:{tmp_path / 'n.npz'}", tmp_path / "c", "NaN")
    np.savez(tmp_path / "len.npz", x=np.zeros((4, 2)), y=np.array([0, 1, 0]))
    load_fails(f"npz:{tmp_path / 'len.npz'}", tmp_path / "c", "4 samples but y has 3")
    np.save(tmp_path / "single.npy", np.zeros(3))
    load_fails(f"npz:{tmp_path / 'single.npy'}", tmp_path / "c", "single .npy array")
    np.savez(tmp_path / "dup.npz", x=np.zeros((6, 2)), y=np.array([0, 1, 2] * 2), classes=np.array(["a", "a", "b"]))
    load_fails(f"npz:{tmp_path / 'dup.npz'}", tmp_path / "c", "'a' names more than one class")  # predictions: which a?


def test_bad_toy_options():
    with pytest.raises(UserError, match="--noise -1"):
        tpdata.load("moons", tpdata.LoadOptions(noise=-1.0))
    with pytest.raises(UserError, match="--n-samples 3"):
        tpdata.load("spirals", tpdata.LoadOptions(n_samples=3))


def test_mnist1d_data_seed_past_32_bits_is_one_line(tmp_path, monkeypatch):
    """numpy's seeding inside mnist1d takes 32 bits: 2**32 was a numpy traceback, as the toy sets' was not."""
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path))
    with pytest.raises(UserError, match=r"--data-seed 4294967296 must be from 0 to 2\*\*32 - 1"):
        tpdata.load("mnist1d", tpdata.LoadOptions(data_seed=2**32))


# --- random bytes into every reader ----------------------------------------------------------

def junk(prefixes: list[bytes]) -> st.SearchStrategy[bytes]:
    """Random bytes, sometimes behind a valid-looking magic number so parsing goes deeper."""
    return st.builds(lambda p, b: p + b, st.sampled_from([b"", *prefixes]), st.binary(max_size=600))


@pytest.fixture(scope="module")
def mnist_dir():
    with tempfile.TemporaryDirectory() as d:
        synthetic.write_mnist(d, n_train=20, n_test=10)
        yield Path(d)


@FUZZ
@given(blob=junk([bytes((0, 0, 8, 3)), bytes((0, 0, 8, 3)) + bytes((0, 0, 0, 20, 0, 0, 0, 28, 0, 0, 0, 28))]))
def test_fuzz_idx_images(mnist_dir, blob):
    (mnist_dir / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(blob)
    with tempfile.TemporaryDirectory() as cache:
        outcome_is_clean("mnist", Path(cache), data_dir=mnist_dir)


@FUZZ
@given(blob=junk([b"\x1f\x8b\x08\x00", gzip.compress(bytes((0, 0, 8, 1)))[:12]]))
def test_fuzz_idx_gzip(mnist_dir, blob):
    raw = mnist_dir / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte").unlink(missing_ok=True)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(blob)
    with tempfile.TemporaryDirectory() as cache:
        outcome_is_clean("mnist", Path(cache), data_dir=mnist_dir)


@pytest.fixture(scope="module")
def cifar_dir():
    with tempfile.TemporaryDirectory() as d:
        synthetic.write_cifar10(d, n_train=10, n_test=5)
        yield Path(d)


@FUZZ
@given(blob=junk([b"\x80\x02}q\x00(X\x04\x00\x00\x00data", b"\x80\x02cnumpy\ndtype\n"]))
def test_fuzz_cifar_batch(cifar_dir, blob):
    (cifar_dir / "cifar-10-batches-py" / "data_batch_2").write_bytes(blob)
    with tempfile.TemporaryDirectory() as cache:
        outcome_is_clean("cifar10", Path(cache), data_dir=cifar_dir)


@pytest.fixture(scope="module")
def image_dir():
    with tempfile.TemporaryDirectory() as d:
        synthetic.write_image_folder(d, per_class=2, size=(8, 8))
        yield Path(d)


@FUZZ
@given(blob=junk([b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"]),
       ext=st.sampled_from(["png", "jpg"]))
def test_fuzz_image_file(image_dir, blob, ext):
    for old in (image_dir / "cat").glob("fuzz.*"):
        old.unlink()
    (image_dir / "cat" / f"fuzz.{ext}").write_bytes(blob)
    with tempfile.TemporaryDirectory() as cache:
        outcome_is_clean(f"imagefolder:{image_dir}", Path(cache), image_size=8)


@FUZZ
@given(blob=junk([b"PK\x03\x04", b"\x93NUMPY\x01\x00"]))
def test_fuzz_npz(blob):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.npz"
        path.write_bytes(blob)
        outcome_is_clean(f"npz:{path}", Path(d) / "cache")


@FUZZ
@given(blob=st.one_of(st.binary(max_size=400), st.text(alphabet="0123456789.,-\n\"xe ", max_size=400).map(str.encode)))
def test_fuzz_csv(blob):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "f.csv"
        path.write_bytes(blob)
        outcome_is_clean(f"csv:{path}", Path(d) / "cache")


def test_a_split_left_empty_is_refused_not_reported_as_nan(tmp_path):
    """--val-fraction 0.01 on 20 rows, or --test-fraction 0 where the set has no test split of its own,
    used to "finish" with a NaN loss and accuracy 0 on no samples."""
    small = tpdata.load(f"npz:{synthetic.write_npz(tmp_path / 'a.npz', n=20, classes=2)}")
    with pytest.raises(UserError, match=r"the validation split of npz:.* would hold no samples .*; use --val-fraction "
                       r"0\.1$"):
        tpdata.prepare(small, val_fraction=0.01)
    digits = tpdata.load("digits")
    with pytest.raises(UserError, match=r"the test split of digits would hold no samples \(1,797 samples.*; use "
                       r"--test-fraction 0\.05$"):
        tpdata.prepare(digits, test_fraction=0.0)
    own_test = tpdata.load(f"npz:{synthetic.write_npz(tmp_path / 'b.npz', n=60, n_test=20)}")
    assert len(tpdata.prepare(own_test, test_fraction=0.0).y_test) == 20  # its own test split: 0 is right


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_failed_download_quotes_its_cause_cut_at_a_word(name, tmp_path, monkeypatch):
    """torchvision's offline error is long (every mirror tried, each urlopen error): the one-line
    refusal quotes it shortened at a word with an ellipsis, never ending mid-word."""
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        tries = " ".join(f"Tried https://mirror{i}.example/{name}/, got: <urlopen error [Errno -3] "
                         "Temporary failure in name resolution>" for i in range(4))
        raise RuntimeError(f"Error downloading train-images-idx3-ubyte.gz: {tries}")

    monkeypatch.setattr(tvd, "MNIST", offline)
    monkeypatch.setattr(tvd, "CIFAR10", offline)
    message = load_fails(name, tmp_path / "c", "could not download", data_dir=tmp_path, download=True)
    quoted = message.split(" (", 1)[1].split("); check", 1)[0]
    assert quoted.endswith("…") and quoted[-2].isalnum() and len(quoted) <= 201
    assert "\n" not in message


# --- a failed download ---------------------------------------------------------------------

def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with a file's bytes (None for a folder): what a test compares before and after."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def downloads_of(name: str) -> dict[str, bytes]:
    """The first file torchvision fetches for `name`, as noise: only its first 100 bytes ever arrive."""
    return {"cifar-10-python.tar.gz" if name == "cifar10" else "train-images-idx3-ubyte.gz": bytes(range(256)) * 4}


def setup_data_dir(tmp_path: Path, where: str) -> dict[str, Path]:
    """LoadOptions for a download into: a DATA_DIR that already holds other things, one that does not exist
    yet (nor its parent), or the default folder inside a cache folder that does not exist yet."""
    if where == "data-dir":
        synthetic.write_mnist(tmp_path / "d", folder="EMNIST", n_train=10, n_test=10)  # another set, by hand
        (tmp_path / "d" / "notes.txt").write_text("mine\n")
        return {"data_dir": tmp_path / "d"}
    if where == "new data-dir":
        return {"data_dir": tmp_path / "new" / "data"}
    return {}


@pytest.mark.parametrize("where", ["data-dir", "new data-dir", "default"])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist", "cifar10"])
def test_a_failed_download_leaves_nothing_of_its_own_behind(name, where, tmp_path, monkeypatch):
    """torchvision downloads into the data folder itself: a download cut off mid-file used to leave the
    half-written .gz or .tar.gz there, and the folders it made (DATA_DIR/MNIST/raw/, a --data-dir that did
    not exist, the cache's datasets/ folder), which a later run found. Now exactly those go, and nothing else."""
    kw = setup_data_dir(tmp_path, where)
    before = tree(tmp_path)
    net = FakeNetwork(monkeypatch, downloads_of(name), cut=urllib.error.URLError("connection reset by peer"))
    message = load_fails(name, tmp_path / "cache", "could not download", download=True, **kw)
    assert net.sent, "the download never began writing"
    assert tree(tmp_path) == before
    assert "rewritten" not in message and "\n" not in message


@pytest.mark.parametrize("where", ["data-dir", "new data-dir"])
@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_download_stopped_by_ctrl_c_cleans_up_and_still_stops(name, where, tmp_path, monkeypatch):
    kw = setup_data_dir(tmp_path, where)
    before = tree(tmp_path)
    net = FakeNetwork(monkeypatch, downloads_of(name), cut=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        tpdata.load(name, tpdata.LoadOptions(cache_dir=tmp_path / "cache", download=True, **kw))
    assert net.sent
    assert tree(tmp_path) == before


def test_a_failed_download_keeps_the_part_of_a_set_that_was_there(tmp_path, monkeypatch):
    """The IDX files a user already had stay as they were, an empty folder left by an earlier run stays, and
    a file torchvision rewrote in place (a .gz that is not the official one) is kept and named."""
    raw = synthetic.write_mnist(tmp_path, n_train=20, n_test=10)
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (raw / stem).unlink()
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b an old, cut-off download")
    (tmp_path / "MNIST" / "processed").mkdir()
    before = tree(tmp_path)
    FakeNetwork(monkeypatch, downloads_of("mnist"), cut=urllib.error.URLError("connection reset by peer"))
    message = load_fails("mnist", tmp_path / "cache", "could not download", data_dir=tmp_path, download=True)
    after = tree(tmp_path)
    gz = "MNIST/raw/train-images-idx3-ubyte.gz"
    assert after.keys() == before.keys()  # nothing new, nothing that was there deleted
    assert {k: v for k, v in after.items() if k != gz} == {k: v for k, v in before.items() if k != gz}
    assert after[gz] == downloads_of("mnist")["train-images-idx3-ubyte.gz"][:100]  # torchvision's own rewrite
    assert f"it had already rewritten {tmp_path / gz}, which existed before (kept as they are now)" in message


def test_a_download_that_unpacked_part_of_cifar_removes_only_what_it_unpacked(tmp_path, monkeypatch):
    """An archive that arrives whole but whose batches fail torchvision's checksum: the archive and the
    batches it unpacked go; a batch and a file the user had in the folder stay (the batch, which the archive
    overwrote, is named)."""
    import torchvision.datasets.utils as tvu

    served = synthetic.write_cifar10(tmp_path / "server", n_train=10, n_test=5)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(served, arcname="cifar-10-batches-py")
    shutil.rmtree(tmp_path / "server")
    mine = tmp_path / "d" / "cifar-10-batches-py"
    mine.mkdir(parents=True)
    (mine / "data_batch_1").write_bytes(b"the user's own batch")
    (mine / "README.txt").write_text("mine\n")
    before = tree(tmp_path)
    # the archive passes download_url's check (no MD5), so torchvision unpacks it; CIFAR10's own check fails
    monkeypatch.setattr(tvu, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    net = FakeNetwork(monkeypatch, {"cifar-10-python.tar.gz": archive.getvalue()})
    message = load_fails("cifar10", tmp_path / "cache", "could not download", data_dir=tmp_path / "d", download=True)
    assert net.sent == ["cifar-10-python.tar.gz"]
    after = tree(tmp_path)
    assert after.keys() == before.keys()
    assert after["d/cifar-10-batches-py/README.txt"] == b"mine\n"
    assert f"it had already rewritten {mine / 'data_batch_1'}, which existed before" in message
