"""The data loaders' refusals in Chinese: a learner who runs compare, gradcheck or graph in Chinese
meets a damaged MNIST file, a split left empty or a data option that does nothing in Chinese too,
saying the same thing (the path, the numbers, the options and the advice) as the English."""

from __future__ import annotations

import gzip
import pickle
import re
import struct

import numpy as np
import pytest
from conftest import refused_in_both_languages, says_the_same_in_chinese

from torchprimer import data as tpdata
from torchprimer.data import synthetic
from torchprimer.errors import UserError

SETS = {"mnist", "mnist1d", "fashion-mnist", "kmnist", "cifar10", "npz", "moons", "digits"}
# what the Chinese keeps as the English has it: options, quoted values, numbers and the data sets' names
KEPT = re.compile(r"--[a-z][a-z0-9-]*|'[^']*'|\d+(?:[,.]\d+)*|(?<![A-Za-z0-9_/.-])[a-z][a-z0-9_-]*")
REFETCH = ("delete it, then download it again: add --download (where a command has none, "
           "'torchprimer data stats DATASET --download')")
REFETCH_ZH = ("请先删除它，再重新下载：加上 --download（命令没有这个选项时，用 "
              "'torchprimer data stats DATASET --download'）")
MNIST_WHERE = "https://ossci-datasets.s3.amazonaws.com/mnist/"
CIFAR_WHERE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def both(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """The English and Chinese refusal of `torchprimer ARGV`, without "error: " and the newline, checked
    to say the same thing."""
    en, zh = refused_in_both_languages(argv, capsys, monkeypatch)
    says_the_same_in_chinese(en, zh, KEPT, SETS)
    return en.removeprefix("error: ").rstrip("\n"), zh.removeprefix("error: ").rstrip("\n")


def idx_header(magic_ndim: int, *dims: int) -> bytes:
    """An IDX header as the format writes it: 0x00 0x00, type 0x08 (unsigned byte), the number of
    dimensions, then each dimension as a big-endian 32-bit integer."""
    return struct.pack(f">BBBB{len(dims)}I", 0, 0, 0x08, magic_ndim, *dims)


# --- MNIST's IDX files (mnist.py) -----------------------------------------------------------------

def test_an_idx_file_with_the_wrong_magic_number(tmp_path, capsys, monkeypatch):
    """An images file (3 dimensions) where the training labels belong."""
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10)
    labels = raw / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_header(3, 30, 1, 1) + bytes(30))
    en, zh = both(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--no-plot"],
                  capsys, monkeypatch)
    assert en == (f"{labels} has the wrong magic number 0x00000803 (expected 0x00000801, unsigned-byte labels "
                  f"with 1 dimension); is it the right file? {REFETCH}")
    assert zh == (f"{labels} 的魔数 0x00000803 不对（应为 0x00000801，即 1 维的无符号字节标签）；"
                  f"是不是放错了文件？{REFETCH_ZH}")


def test_an_idx_file_of_the_wrong_length(tmp_path, capsys, monkeypatch):
    """Bytes past the data the header describes, and a file cut short, read by gradcheck from the default
    data folder (it has no --data-dir)."""
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path / "cache"))
    raw = synthetic.write_mnist(tmp_path / "cache" / "datasets", n_train=30, n_test=10)
    labels = raw / "t10k-labels-idx1-ubyte"
    labels.write_bytes(idx_header(1, 10) + bytes(10) + bytes(5))
    en, zh = both(["gradcheck", "--dataset", "mnist"], capsys, monkeypatch)
    assert en == f"{labels} has 5 bytes after the (10,) data its header describes; {REFETCH}"
    assert zh == f"{labels} 在文件头所描述的 (10,) 数据之后还多出 5 字节；{REFETCH_ZH}"

    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(idx_header(3, 30, 28, 28) + bytes(30 * 28 * 28 - 100))
    en, zh = both(["graph", "--model", "mlp", "--dataset", "mnist"], capsys, monkeypatch)
    assert en == f"{images} is truncated: 23436 bytes, but its header promises 23536 (30, 28, 28); {REFETCH}"
    assert zh == f"{images} 不完整：只有 23436 字节，但它的文件头 (30, 28, 28) 表明应有 23536 字节；{REFETCH_ZH}"


def test_a_gzip_file_cut_short(tmp_path, capsys, monkeypatch):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10, gzipped=True)
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(idx_header(1, 10) + bytes(10))[:15])
    en, zh = both(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--no-plot"],
                  capsys, monkeypatch)
    assert en.startswith(f"{gz} is not a readable gzip file (") and en.endswith(f"); {REFETCH}")
    cause = en.removeprefix(f"{gz} is not a readable gzip file (").removesuffix(f"); {REFETCH}")
    assert zh == f"{gz} 不是可读的 gzip 文件（{cause}）；{REFETCH_ZH}"


def test_images_and_labels_that_do_not_belong_together(tmp_path, capsys, monkeypatch):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10)
    (raw / "train-labels-idx1-ubyte").write_bytes(idx_header(1, 29) + bytes(29))
    en, zh = both(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--no-plot"],
                  capsys, monkeypatch)
    assert en == ("mnist: train-images-idx3-ubyte holds 30 images but train-labels-idx1-ubyte holds 29 labels; "
                  f"the files do not belong together: replace them with the pair from {MNIST_WHERE}")
    assert zh == ("mnist：train-images-idx3-ubyte 有 30 张图像，但 train-labels-idx1-ubyte 有 29 个标签；"
                  f"这两个文件不是一套：请换成 {MNIST_WHERE} 上配套的两个文件")


def test_a_label_past_the_classes(tmp_path, capsys, monkeypatch):
    raw = synthetic.write_mnist(tmp_path / "d", n_train=30, n_test=10)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(idx_header(1, 10) + bytes([12] * 10))
    en, zh = both(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--no-plot"],
                  capsys, monkeypatch)
    assert en == ("mnist: t10k-labels-idx1-ubyte has label 12, but mnist has 10 classes (0..9); is it the right "
                  f"file? Replace it with the one from {MNIST_WHERE}")
    assert zh == ("mnist：t10k-labels-idx1-ubyte 中有标签 12，但 mnist 只有 10 个类别（0..9）；是不是放错了文件？"
                  f"请换成 {MNIST_WHERE} 上的文件")


def test_a_failed_download_is_said_in_chinese(tmp_path, capsys, monkeypatch):
    """torchvision's download, made to fail here (no network is touched)."""
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(tvd, "MNIST", offline)
    en, zh = both(["compare", "--dataset", "mnist", "--data-dir", str(tmp_path), "--download", "--no-plot"],
                  capsys, monkeypatch)
    assert en == (f"could not download mnist into {tmp_path} (Error downloading train-images-idx3-ubyte.gz); "
                  "check the internet connection, or put the IDX files in DATA_DIR/MNIST/raw/ yourself")
    assert zh == (f"无法把 mnist 下载到 {tmp_path}（Error downloading train-images-idx3-ubyte.gz）；请检查网络连接，"
                  "或者自己把 IDX 文件放进 DATA_DIR/MNIST/raw/")


# --- --data-dir (cache.py) ----------------------------------------------------------------------

@pytest.mark.parametrize(("where", "problem", "problem_zh"), [
    ("nope", "does not exist", "不存在"),
    ("a file", "is a file", "是一个文件，不是文件夹"),
])
def test_a_data_dir_that_is_no_folder(where, problem, problem_zh, tmp_path, capsys, monkeypatch):
    (tmp_path / "a file").write_text("")
    data_dir = tmp_path / where
    en, zh = both(["compare", "--dataset", "mnist", "--data-dir", str(data_dir), "--no-plot"], capsys, monkeypatch)
    assert en == (f"--data-dir {data_dir} {problem}; pass the folder that holds MNIST/raw/ (torchvision's layout), "
                  "or add --download")
    assert zh == (f"--data-dir {data_dir} {problem_zh}；请传入含有 MNIST/raw/ 的文件夹（torchvision 的布局），"
                  "或者加上 --download")


def test_a_download_that_rewrote_files_says_so_in_chinese(tmp_path):
    from torchprimer.data.cache import DownloadUndo

    undo = DownloadUndo(tmp_path, ())
    assert undo.note("zh") == ""
    undo.rewritten = [tmp_path / "a.gz"]
    assert undo.note() == f"; it had already rewritten {tmp_path / 'a.gz'}, which existed before (kept as they are now)"
    assert undo.note("zh") == f"；它已经改写了 {tmp_path / 'a.gz'}，这些文件在下载前就已存在（保留为现在的样子）"


# --- CIFAR-10's batches (cifar.py) --------------------------------------------------------------

def test_a_cifar_batch_with_fewer_labels_than_images(tmp_path, capsys, monkeypatch):
    folder = synthetic.write_cifar10(tmp_path, n_train=50, n_test=10)
    entry = {"labels": [0] * 9, "data": np.zeros((10, 3072), np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    en, zh = both(["compare", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--no-plot"], capsys, monkeypatch)
    assert en == f"{folder / 'test_batch'} has 10 images but 9 labels; get the batches from {CIFAR_WHERE}"
    assert zh == f"{folder / 'test_batch'} 有 10 张图像，却有 9 个标签；请从 {CIFAR_WHERE} 获取这些批次文件"


def test_a_cifar_label_outside_0_to_9(tmp_path, capsys, monkeypatch):
    folder = synthetic.write_cifar10(tmp_path, n_train=50, n_test=10)
    entry = {"labels": [-1] + [9] * 9, "data": np.zeros((10, 3072), np.uint8)}
    (folder / "test_batch").write_bytes(pickle.dumps(entry, protocol=2))
    en, zh = both(["compare", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--no-plot"], capsys, monkeypatch)
    assert en == f"{folder / 'test_batch'}: label -1 is outside 0..9; get the batches from {CIFAR_WHERE}"
    assert zh == f"{folder / 'test_batch'}：标签 -1 不在 0..9 之内；请从 {CIFAR_WHERE} 获取这些批次文件"


# --- names and data options (registry.py) -------------------------------------------------------

def test_data_options_a_set_does_not_read(tmp_path, capsys, monkeypatch):
    readers = "mnist, fashion-mnist, kmnist, cifar10"
    en, zh = both(["compare", "--dataset", "mnist1d", "--data-dir", str(tmp_path), "--no-plot"], capsys, monkeypatch)
    assert en == f"--data-dir does nothing for mnist1d (--data-dir is read by {readers}); leave it out"
    assert zh == "--data-dir 对 mnist1d 不起作用（--data-dir 只用于 mnist、fashion-mnist、kmnist、cifar10）；请去掉它"
    en, zh = both(["compare", "--dataset", "moons", "--data-dir", str(tmp_path), "--download", "--no-plot"],
                  capsys, monkeypatch)
    assert en == (f"--data-dir, --download do nothing for moons (--data-dir is read by {readers}; --download is "
                  f"read by {readers}); leave them out")
    assert zh == ("--data-dir、--download 对 moons 不起作用（--data-dir 只用于 mnist、fashion-mnist、kmnist、cifar10；"
                  "--download 只用于 mnist、fashion-mnist、kmnist、cifar10）；请去掉它们")


@pytest.mark.parametrize(("argv", "english", "chinese"), [
    (["gradcheck", "--dataset", "npz"], "data set 'npz' needs a path: use npz:PATH",
     "数据集 'npz' 需要一个路径：请写成 npz:PATH"),
    (["graph", "--model", "mlp", "--dataset", "moons:x"], "data set 'moons' takes no path; use plain 'moons'",
     "数据集 'moons' 不接受路径；请只写 'moons'"),
], ids=["needs a path", "takes no path"])
def test_a_data_set_name_with_or_without_its_path(argv, english, chinese, capsys, monkeypatch):
    assert both(argv, capsys, monkeypatch) == (english, chinese)


# --- splits (splits.py) -------------------------------------------------------------------------

def test_a_split_left_empty(tmp_path, capsys, monkeypatch):
    """compare's shares leave the validation split of 20 rows empty; gradcheck's default shares cannot
    split 4 rows at all."""
    small = synthetic.write_npz(tmp_path / "small.npz", n=20, classes=2)
    en, zh = both(["compare", "--dataset", f"npz:{small}", "--val-fraction", "0.01", "--methods", "logreg",
                   "--no-plot"], capsys, monkeypatch)
    assert en == (f"the validation split of npz:{small} would hold no samples (20 samples, --val-fraction 0.01, "
                  "--test-fraction 0.5); use --val-fraction 0.1")
    assert zh == (f"npz:{small} 的验证集将没有任何样本（共 20 个样本，--val-fraction 0.01，--test-fraction 0.5）；"
                  "请改用 --val-fraction 0.1")

    tiny = synthetic.write_npz(tmp_path / "tiny.npz", n=4, classes=2)
    en, zh = both(["gradcheck", "--dataset", f"npz:{tiny}"], capsys, monkeypatch)
    assert en == (f"the validation split of npz:{tiny} would hold no samples (4 samples, --val-fraction 0.1, "
                  "--test-fraction 0.1), and no split of it fills all three; use a larger data set (--n-samples for "
                  "generated ones)")
    assert zh == (f"npz:{tiny} 的验证集将没有任何样本（共 4 个样本，--val-fraction 0.1，--test-fraction 0.1），"
                  "而且怎样划分都无法让三部分都有样本；请换一个更大的数据集（生成的数据集可以加大 --n-samples）")


def test_a_set_with_its_own_test_split_names_only_the_validation_share(tmp_path):
    own_test = tpdata.load(f"npz:{synthetic.write_npz(tmp_path / 'a.npz', n=20, n_test=10, classes=2)}")
    with pytest.raises(UserError) as refused:
        tpdata.prepare(own_test, val_fraction=0.01)
    assert refused.value.zh == (f"npz:{tmp_path / 'a.npz'} 的验证集将没有任何样本"
                                "（共 20 个样本，--val-fraction 0.01）；请改用 --val-fraction 0.1")


@pytest.mark.parametrize(("val", "test", "chinese"), [
    (0.0, 0.1, "--val-fraction 必须在 (0, 1) 之内，--test-fraction 必须在 [0, 1) 之内；例如 --val-fraction 0.1"),
    (0.5, 0.5, "--val-fraction 加 --test-fraction 必须给训练留下数据（两者之和 < 1）"),
])
def test_shares_train_would_refuse(val, test, chinese):
    """Refused by train and data (which speak English) before any loading; the Python API gives both."""
    from torchprimer.data.splits import check_fractions

    with pytest.raises(UserError) as refused:
        check_fractions(val, test)
    assert refused.value.in_language("zh") == chinese and "--val-fraction" in str(refused.value)


# --- generated sets and augmentation (mnist1d.py, toy.py, augment.py) -----------------------------

@pytest.mark.parametrize(("name", "options", "english", "chinese"), [
    ("mnist1d", {"n_samples": 5}, "--n-samples 5 for mnist1d must be from 20 to 1,000,000 (the published set has "
     "5,000)", "mnist1d 的 --n-samples 5 必须在 20 到 1,000,000 之间（发布的数据集有 5,000 个样本）"),
    ("mnist1d", {"data_seed": -1}, "--data-seed -1 must be from 0 to 2**32 - 1",
     "--data-seed -1 必须在 0 到 2**32 - 1 之间"),
    ("blobs", {"n_samples": 3}, "--n-samples 3 for blobs must be from 30 to 10,000,000, e.g. 1000",
     "blobs 的 --n-samples 3 必须在 30 到 10,000,000 之间，例如 1000"),
    ("moons", {"noise": -1.0}, "--noise -1 must be from 0 to 100 (> 0 for blobs), e.g. 0.2: the points lie within a "
     "few units of 0, so more noise only hides the classes",
     "--noise -1 必须在 0 到 100 之间（blobs 须 > 0），例如 0.2："
     "这些点都落在 0 附近几个单位之内，噪声再大只会淹没类别"),
], ids=["mnist1d size", "mnist1d seed", "toy size", "toy noise"])
def test_generated_sets_refuse_in_both_languages(name, options, english, chinese):
    """Their options are train's and data's, which speak English; the Python API gives both."""
    with pytest.raises(UserError) as refused:
        tpdata.load(name, tpdata.LoadOptions(**options))
    assert (str(refused.value), refused.value.zh) == (english, chinese)


def test_a_negative_crop_padding():
    from torchprimer.data.augment import make_augment

    with pytest.raises(UserError) as refused:
        make_augment(("image", (1, 28, 28)), padding=-1)
    assert str(refused.value) == "crop padding -1 must be 0 (no crop) or more pixels, e.g. 3"
    assert refused.value.zh == "裁剪的填充 -1 必须是 0（不裁剪）或更多像素，例如 3"

