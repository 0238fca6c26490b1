"""Every file-backed loader on real on-disk formats written by the tests themselves.

Expected values come from an independent route: the IDX bytes parsed with numpy, the
CIFAR pickles we wrote, the PNG pixels, the arrays saved to .npz, the numbers in the CSV.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FakeNetwork

from torchprimer import data as tpdata
from torchprimer.data import synthetic
from torchprimer.data.cache import cache_root
from torchprimer.errors import UserError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path / "env-cache"))


def options(tmp_path: Path, **kw) -> tpdata.LoadOptions:
    return tpdata.LoadOptions(cache_dir=tmp_path / "cache", **kw)


def idx_array(path: Path) -> np.ndarray:
    """An independent IDX reader: header by hand, data by numpy."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST"),
                                              ("kmnist", "KMNIST")])
def test_idx_family_reads_torchvision_layout(tmp_path, name, folder, gzipped):
    raw = synthetic.write_mnist(tmp_path / "data", folder=folder, n_train=300, n_test=50, gzipped=gzipped)
    ds = tpdata.load(name, options(tmp_path, data_dir=tmp_path / "data"))
    suffix = ".gz" if gzipped else ""
    assert ds.x.shape == (300, 1, 28, 28) and ds.x.dtype == torch.uint8
    assert ds.x_test is not None and ds.y_test is not None and ds.x_test.shape == (50, 1, 28, 28)
    assert np.array_equal(ds.x[:, 0].numpy(), idx_array(raw / f"train-images-idx3-ubyte{suffix}"))
    assert np.array_equal(ds.y.numpy(), idx_array(raw / f"train-labels-idx1-ubyte{suffix}"))
    assert np.array_equal(ds.y_test.numpy(), idx_array(raw / f"t10k-labels-idx1-ubyte{suffix}"))
    assert ds.num_classes == 10 and ds.kind == "image"
    assert ds.flip_invariant == (name == "fashion-mnist")
    if gzipped:  # unpacked beside the .gz, as torchvision's own download leaves them
        assert (raw / "train-images-idx3-ubyte").is_file()


def test_mnist_uses_official_test_split_and_training_stats(tmp_path):
    synthetic.write_mnist(tmp_path, n_train=400, n_test=80)
    ds = tpdata.load("mnist", options(tmp_path, data_dir=tmp_path))
    splits = tpdata.prepare(ds, val_fraction=0.1, split_seed=0)
    assert splits.sizes() == {"train": 360, "val": 40, "test": 80}
    train_idx, _, test_idx = tpdata.split_indices(ds, val_fraction=0.1, split_seed=0)
    assert test_idx is None
    pixels = ds.x[train_idx].numpy().astype(np.float64) / 255.0
    assert splits.mean.item() == pytest.approx(pixels.mean(), abs=1e-6)
    assert splits.std.item() == pytest.approx(pixels.std(), abs=1e-6)
    # the training split is normalised with its own statistics: mean 0, std 1 there
    assert splits.x_train.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert splits.x_train.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)


def test_cifar10_reads_python_batches(tmp_path):
    folder = synthetic.write_cifar10(tmp_path, n_train=250, n_test=40)
    ds = tpdata.load("cifar10", options(tmp_path, data_dir=tmp_path))
    assert ds.x.shape == (250, 3, 32, 32) and ds.x.dtype == torch.uint8
    assert ds.x_test is not None and ds.x_test.shape == (40, 3, 32, 32)
    assert ds.classes == synthetic.CIFAR_CLASSES and ds.flip_invariant
    batches = [pickle.loads((folder / f"data_batch_{i}").read_bytes()) for i in range(1, 6)]  # we wrote them
    expected = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
    assert np.array_equal(ds.x.numpy(), expected)
    assert ds.y.tolist() == [label for b in batches for label in b["labels"]]


def test_imagefolder_png_and_jpeg_rgb(tmp_path):
    root = synthetic.write_image_folder(tmp_path / "imgs", classes=("b-cat", "a-dog"), per_class=5, size=(16, 16))
    ds = tpdata.load(f"imagefolder:{root}", options(tmp_path, image_size=16))
    assert ds.classes == ["a-dog", "b-cat"]  # ImageFolder's rule: sorted folder names
    assert ds.x.shape == (10, 3, 16, 16) and ds.x.dtype == torch.uint8
    assert torch.bincount(ds.y).tolist() == [5, 5]
    from PIL import Image

    png = np.asarray(Image.open(root / "a-dog" / "0.png").convert("RGB"))
    assert np.array_equal(ds.x[0].permute(1, 2, 0).numpy(), png)  # lossless and same size: exact


def test_imagefolder_grayscale_and_resize(tmp_path):
    root = synthetic.write_image_folder(tmp_path / "g", mode="L", size=(20, 12), formats=("png", "jpeg"))
    ds = tpdata.load(f"imagefolder:{root}", options(tmp_path, image_size=8))
    assert ds.x.shape == (18, 1, 8, 8)
    means = [ds.x[ds.y == c].float().mean().item() for c in range(3)]
    assert means[0] < means[1] < means[2]  # the writer makes each class brighter than the last


def test_imagefolder_16_bit_grayscale_png_is_scaled_not_clipped(tmp_path):
    """Pillow opens a 16-bit grayscale PNG as mode I;16, and its convert() clips at 255 of 65535:
    nearly every pixel turned white. The loader scales by 257 (65535 -> 255) instead."""
    from PIL import Image

    levels = np.array([0, 257, 257 * 100, 65535], dtype=np.uint16)
    for cls, shift in (("dark", 0), ("light", 1)):
        (tmp_path / "wide" / cls).mkdir(parents=True)
        for i in range(2):
            pixels = np.resize(np.roll(levels, shift + i), (4, 4)).astype(np.uint16)
            Image.fromarray(pixels).save(tmp_path / "wide" / cls / f"{i}.png")
    assert Image.open(tmp_path / "wide" / "dark" / "0.png").mode == "I;16"  # a real 16-bit file
    ds = tpdata.load(f"imagefolder:{tmp_path / 'wide'}", options(tmp_path, image_size=4))
    assert ds.x.shape == (4, 1, 4, 4) and ds.x.dtype == torch.uint8
    assert sorted(set(ds.x[0].flatten().tolist())) == [0, 1, 100, 255]


def test_npz_with_official_test_split(tmp_path):
    path = synthetic.write_npz(tmp_path / "a.npz", n=90, features=4, n_test=30)
    ds = tpdata.load(f"npz:{path}", options(tmp_path))
    with np.load(path) as arrays:
        assert np.array_equal(ds.x.numpy(), arrays["x"])
        assert np.array_equal(ds.y.numpy(), arrays["y"])
    assert ds.kind == "table" and ds.x_test is not None and ds.x_test.shape == (30, 4)
    assert tpdata.prepare(ds).sizes()["test"] == 30


def test_npz_images_with_class_names_and_relabelling(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (12, 1, 5, 5), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", x=x, y=np.array([10, 20, 30] * 4))
    ds = tpdata.load(f"npz:{tmp_path / 'img.npz'}", options(tmp_path))
    assert ds.kind == "image" and ds.x.dtype == torch.uint8
    assert ds.classes == ["10", "20", "30"] and ds.y.tolist() == [0, 1, 2] * 4
    np.savez(tmp_path / "named.npz", x=x.astype(np.float64), y=np.array([0, 1] * 6), classes=np.array(["no", "yes"]))
    named = tpdata.load(f"npz:{tmp_path / 'named.npz'}", options(tmp_path))
    assert named.classes == ["no", "yes"] and named.x.dtype == torch.float32


def test_csv_with_and_without_header(tmp_path):
    path = synthetic.write_csv(tmp_path / "t.csv", n=40, features=3, classes=2)
    ds = tpdata.load(f"csv:{path}", options(tmp_path))
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    assert ds.x.shape == (40, 3)
    assert np.allclose(ds.x.numpy(), np.array([[float(v) for v in r[:3]] for r in rows]), atol=1e-6)
    assert ds.y.tolist() == [int(r[3]) for r in rows]
    bare = synthetic.write_csv(tmp_path / "bare.csv", n=20, header=False)
    assert tpdata.load(f"csv:{bare}", options(tmp_path)).x.shape == (20, 3)
    labelled_first = tmp_path / "first.csv"
    labelled_first.write_text("Label,a,b\n1,0.5,2\n0,1.5,-1\n1,2,3\n")
    ds = tpdata.load(f"csv:{labelled_first}", options(tmp_path))
    assert ds.y.tolist() == [1, 0, 1] and ds.x[0].tolist() == [0.5, 2.0]
    # headers that are mostly numbers or start empty, as pandas writes them: a label column's name marks them
    numbered = tmp_path / "numbered.csv"
    numbered.write_text("0,1,label\n0.5,2,1\n1.5,-1,0\n")
    assert tpdata.load(f"csv:{numbered}", options(tmp_path)).x.tolist() == [[0.5, 2.0], [1.5, -1.0]]
    indexed = tmp_path / "indexed.csv"
    indexed.write_text(",a,target\n0,0.5,1\n1,1.5,0\n")
    assert tpdata.load(f"csv:{indexed}", options(tmp_path)).x.shape == (2, 2)


def test_second_load_hits_cache_and_touching_a_file_invalidates_it(tmp_path):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=100, n_test=20)
    opts = options(tmp_path, data_dir=tmp_path / "d")
    first = tpdata.load("mnist", opts)
    second = tpdata.load("mnist", opts)
    assert not first.from_cache and second.from_cache
    assert torch.equal(first.x, second.x) and torch.equal(first.y_test, second.y_test)
    entries = list((tmp_path / "cache").glob("mnist-*.pt"))
    assert len(entries) == 1
    assert torch.load(entries[0], weights_only=True)["x"].dtype == torch.uint8  # stored as bytes
    labels = raw / "train-labels-idx1-ubyte"
    st = labels.stat()
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # same bytes, new mtime
    assert not tpdata.load("mnist", opts).from_cache
    assert tpdata.load("mnist", opts).from_cache
    assert len(list((tmp_path / "cache").glob("mnist-*.pt"))) == 1  # the stale entry is gone


def test_cache_invalidates_on_size_change_and_survives_a_damaged_entry(tmp_path):
    path = synthetic.write_csv(tmp_path / "t.csv", n=30)
    opts = options(tmp_path)
    assert not tpdata.load(f"csv:{path}", opts).from_cache
    with path.open("a") as fh:
        fh.write("9.5,1,2,1\n")
    again = tpdata.load(f"csv:{path}", opts)
    assert not again.from_cache and again.x.shape == (31, 3)
    (entry,) = (tmp_path / "cache").glob("csv-*.pt")
    entry.write_bytes(b"not a torch file")
    rebuilt = tpdata.load(f"csv:{path}", opts)
    assert not rebuilt.from_cache and rebuilt.x.shape == (31, 3)
    assert tpdata.load(f"csv:{path}", opts).from_cache


def test_cache_folder_order_option_then_env_then_home(tmp_path, monkeypatch):
    assert cache_root(tpdata.LoadOptions(cache_dir=tmp_path / "a")) == tmp_path / "a"
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path / "b"))
    assert cache_root(tpdata.LoadOptions()) == tmp_path / "b"
    monkeypatch.delenv("TORCHPRIMER_CACHE")
    assert cache_root(tpdata.LoadOptions()) == Path.home() / ".cache" / "torchprimer"


def test_mnist1d_is_the_published_set_and_leaves_global_rng_alone(tmp_path):
    import random

    np.random.seed(123)
    random.seed(7)
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    ds = tpdata.load("mnist1d", options(tmp_path))
    assert np.array_equal(np.random.get_state()[1], np_before) and random.getstate() == py_before
    assert ds.x.shape == (4000, 1, 40) and ds.x_test is not None and ds.x_test.shape == (1000, 1, 40)
    assert ds.kind == "signal" and ds.num_classes == 10
    everything = torch.cat([ds.x, ds.x_test]).double()
    # the generator standardises all 5,000 signals together and makes 500 of each class
    assert everything.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert everything.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-6)
    assert torch.bincount(torch.cat([ds.y, ds.y_test])).tolist() == [500] * 10
    assert tpdata.load("mnist1d", options(tmp_path)).from_cache
    fresh = tpdata.load("mnist1d", options(tmp_path, data_seed=1, n_samples=200))
    assert fresh.x.shape == (160, 1, 40) and "fresh draw" in fresh.source


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "xor", "blobs"])
def test_toy_sets(name):
    ds = tpdata.load(name, tpdata.LoadOptions(n_samples=200, noise=0.05, data_seed=3))
    assert ds.x.shape == (200, 2) and ds.kind == "table" and ds.x.dtype == torch.float32
    assert torch.isfinite(ds.x).all()
    assert set(ds.y.tolist()) == set(range(ds.num_classes))
    again = tpdata.load(name, tpdata.LoadOptions(n_samples=200, noise=0.05, data_seed=3))
    assert torch.equal(ds.x, again.x)  # seeded


def test_xor_labels_follow_the_signs():
    ds = tpdata.load("xor", tpdata.LoadOptions(noise=0.0, n_samples=100))
    assert torch.equal(ds.y, (ds.x[:, 0] * ds.x[:, 1] > 0).long())


def test_channel_stats_histogram_matches_float64():
    x = torch.randint(0, 256, (50, 3, 7, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = tpdata.channel_stats(x)
    ref = x.double().div(255).transpose(0, 1).reshape(3, -1)
    assert torch.allclose(mean.double(), ref.mean(1), atol=1e-7)
    assert torch.allclose(std.double(), ref.std(1, unbiased=False), atol=1e-7)


def test_every_registered_set_trains_an_mlp(tmp_path):
    """prepare + an MLP forward/backward on every kind of source (the training loop is tested elsewhere)."""
    from torchprimer.models import ModelSpec, build_model

    synthetic.write_mnist(tmp_path / "d", n_train=60, n_test=20)
    synthetic.write_cifar10(tmp_path / "d", n_train=50, n_test=20)
    names = {
        "digits": {}, "mnist": {"data_dir": tmp_path / "d"}, "cifar10": {"data_dir": tmp_path / "d"},
        f"imagefolder:{synthetic.write_image_folder(tmp_path / 'i', per_class=10)}": {},
        f"npz:{synthetic.write_npz(tmp_path / 'a.npz')}": {}, f"csv:{synthetic.write_csv(tmp_path / 'a.csv')}": {},
        "moons": {}, "blobs": {},
    }
    for name, kw in names.items():
        splits = tpdata.prepare(tpdata.load(name, options(tmp_path, **kw)))
        model = build_model(ModelSpec("mlp"), splits.input_shape, splits.num_classes)
        loss = torch.nn.functional.cross_entropy(model(splits.x_train[:16]), splits.y_train[:16])
        loss.backward()
        assert torch.isfinite(loss), name


def test_what_the_registry_says_of_each_set_is_what_loading_gives(tmp_path):
    """Source.own_test (the playground greys out its training-share slider by it) and the fixed shape and
    class count (`models` builds from them without the files) match what loading gives."""
    from torchprimer.data.mnist import FAMILIES

    for family in FAMILIES.values():
        synthetic.write_mnist(tmp_path / "d", folder=family.folder, n_train=40, n_test=10)
    synthetic.write_cifar10(tmp_path / "d", n_train=20, n_test=10)
    checked = []
    for name, source in tpdata.sources().items():
        if source.takes_path:
            continue
        ds = tpdata.load(name, options(tmp_path, data_dir=tmp_path / "d", n_samples=100))
        assert source.own_test == (ds.x_test is not None), name
        assert source.shape == ds.input_shape and source.num_classes == ds.num_classes, name
        checked.append(name)
    assert {"digits", "mnist1d", "mnist", "cifar10", "moons"} <= set(checked)


def test_npz_bytes_beside_floats_are_scaled_and_byte_class_names_are_text(tmp_path: Path) -> None:
    """uint8 x with a float x_test: both become floats, the bytes divided by 255 as bytes always are
    (they were cast unscaled, 255 times off the test split); names saved as bytes read as text."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 1, 4, 4), dtype=np.uint8)
    y = np.arange(40) % 2
    np.savez(tmp_path / "mix.npz", x=x, y=y, x_test=(x[:10] / 255).astype(np.float32), y_test=y[:10],
             classes=np.array([b"cat", b"dog"]))
    ds = tpdata.load(f"npz:{tmp_path / 'mix.npz'}", options(tmp_path))
    assert ds.x.dtype == ds.x_test.dtype == torch.float32
    torch.testing.assert_close(ds.x[:10], ds.x_test)
    assert float(ds.x.max()) <= 1.0 and ds.classes == ["cat", "dog"]


def test_image_folder_with_a_latin1_class_name_and_float_tiffs(tmp_path: Path) -> None:
    """A class folder named in Latin-1 (b'caf\\xe9') reached matplotlib as 'caf\\udce9' and stopped the
    run after its weights were written; 32-bit float TIFFs in [0, 1] loaded as black (Pillow clips)."""
    from PIL import Image

    root = tmp_path / "f"
    rng = np.random.default_rng(0)
    for name in (b"caf\xe9", b"tea"):
        folder = os.path.join(os.fsencode(root), name)
        os.makedirs(folder)
        for i in range(3):
            values = rng.random((6, 6)).astype(np.float32)
            Image.fromarray(values, mode="F").save(os.path.join(folder, b"%d.tif" % i))
    ds = tpdata.load(f"imagefolder:{root}", options(tmp_path, image_size=6))
    assert ds.classes == ["caf\xe9", "tea"]
    first = np.asarray(Image.open(os.path.join(os.fsencode(root), b"caf\xe9", b"0.tif")), dtype=np.float64)
    assert ds.x.dtype == torch.uint8 and ds.x.shape == (6, 1, 6, 6)
    np.testing.assert_array_equal(ds.x[0, 0].numpy(), np.rint(first * 255).astype(np.uint8))


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_download_through_torchvision_after_one_that_was_cut_off(name, tmp_path, monkeypatch):
    """--download through torchvision's own download code, on a fake network, without checksums (the files
    are ours). A first try cut off mid-file leaves the data folder as it was: no half-written archive that
    the second would take for a whole one. The second keeps what it fetched, and the set loads from it."""
    import torchvision.datasets.cifar
    import torchvision.datasets.utils

    def no_md5(fpath, md5=None):
        return os.path.isfile(fpath)

    monkeypatch.setattr(torchvision.datasets.utils, "check_integrity", no_md5)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", no_md5)
    server = tmp_path / "server"
    if name == "mnist":
        raw = synthetic.write_mnist(server, n_train=60, n_test=20, gzipped=True)
        files = {f.name: f.read_bytes() for f in raw.iterdir()}
    else:
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            tar.add(synthetic.write_cifar10(server, n_train=50, n_test=10), arcname="cifar-10-batches-py")
        files = {"cifar-10-python.tar.gz": archive.getvalue()}
    data = tmp_path / "data"
    data.mkdir()

    FakeNetwork(monkeypatch, files, cut=urllib.error.URLError("connection reset by peer"))
    with pytest.raises(UserError, match="could not download"):
        tpdata.load(name, options(tmp_path, data_dir=data, download=True))
    assert list(data.iterdir()) == []

    FakeNetwork(monkeypatch, files)
    ds = tpdata.load(name, options(tmp_path, data_dir=data, download=True))
    if name == "mnist":
        kept = data / "MNIST" / "raw"
        assert sorted(f.name for f in kept.iterdir()) == sorted([*files, *(f.removesuffix(".gz") for f in files)])
        assert np.array_equal(ds.x[:, 0].numpy(), idx_array(server / "MNIST" / "raw" / "train-images-idx3-ubyte.gz"))
    else:
        assert (data / "cifar-10-python.tar.gz").read_bytes() == files["cifar-10-python.tar.gz"]
        batch = pickle.loads((server / "cifar-10-batches-py" / "data_batch_1").read_bytes())
        assert np.array_equal(ds.x[:10].numpy(), batch["data"].reshape(-1, 3, 32, 32))
    shutil.rmtree(server)
