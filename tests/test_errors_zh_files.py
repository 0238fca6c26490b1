"""The file loaders' refusals in Chinese: npz:, csv: and imagefolder: data sets (and the checks of features and
labels they share) are read by compare, gradcheck and graph, which speak Chinese, so a learner who points
them at a broken file under --lang zh reads what is wrong and what to do in Chinese.

Each file is written here in its real format (numpy.savez, CSV text, PNG folders) in a scratch folder the test
runs in, so the lines name short relative paths and can be compared whole. That every refusal of these
modules has its Chinese, with the same values and options, tests/test_errors_zh.py checks from the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import refused_in_both_languages, says_the_same_in_chinese

from torchprimer.data import synthetic
from torchprimer.errors import UserError

# what the Chinese keeps as the English has it: options, quoted values, numbers, and the words below
KEPT = re.compile(r"--[a-z][a-z0-9-]*|'[^']*'|\d+(?:[,.]\d+)*|(?<![A-Za-z0-9_-])[a-z][a-z0-9_-]*")
NAMES = {"x", "y", "x_test", "y_test", "numpy", "savez", "path", "npz", "csv", "imagefolder", "cat", "dog"}


# --- the files, written in the folder the command runs in -----------------------------------------------------

def _npz(name: str, **arrays: np.ndarray) -> Callable[[], None]:
    return lambda: np.savez(name, **arrays)


def _text(name: str, text: str | bytes) -> Callable[[], None]:
    def write() -> None:
        if isinstance(text, bytes):
            Path(name).write_bytes(text)
        else:
            Path(name).write_text(text, encoding="utf-8")
    return write


def _folders(*names: str) -> Callable[[], None]:
    return lambda: [Path(n).mkdir(parents=True) for n in names]


def _images(root: str, classes: tuple[str, ...], broken: str | None = None) -> Callable[[], None]:
    def write() -> None:
        synthetic.write_image_folder(root, classes=classes, per_class=2, size=(6, 6))
        if broken:
            Path(root, broken).write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return write


X = np.arange(8, dtype=np.float32).reshape(4, 2)
Y = np.array([0, 1, 0, 1])
SAVEZ = "numpy.savez(path, x=x, y=y)"

NPZ = [
    ("absent", lambda: None, "npz:absent.npz",
     f"npz: absent.npz does not exist; pass npz:PATH to a .npz written by {SAVEZ}",
     f"npz: absent.npz 不存在；请用 npz:PATH 指向由 {SAVEZ} 写出的 .npz 文件"),
    ("folder", _folders("d.npz"), "npz:d.npz",
     f"npz: d.npz is a folder, not a file; pass npz:PATH to a .npz written by {SAVEZ}",
     f"npz: d.npz 是文件夹，不是文件；请用 npz:PATH 指向由 {SAVEZ} 写出的 .npz 文件"),
    ("no zip header", _text("junk.npz", "x,y\n1,0\n"), "npz:junk.npz",
     f"npz: junk.npz is not an .npz archive (no zip header); write it with {SAVEZ}",
     f"npz: junk.npz 不是 .npz 归档文件（没有 zip 文件头）；请用 {SAVEZ} 写出它"),
    ("single npy", lambda: np.save("single.npy", X), "npz:single.npy",
     f"npz: single.npy is a single .npy array, not an archive; save x and y with {SAVEZ}",
     f"npz: single.npy 是单个 .npy 数组，不是归档文件；请用 {SAVEZ} 把 x 和 y 一起保存"),
    ("no y", _npz("noy.npz", x=X, X2=X), "npz:noy.npz",
     "npz: noy.npz has no array 'y' (it holds 'X2', 'x'); save with numpy.savez(path, x=features, y=labels)",
     "npz: noy.npz 中没有名为 'y' 的数组（其中有 'X2'、'x'）；请用 numpy.savez(path, x=features, y=labels) 保存"),
    ("lengths", _npz("len.npz", x=X, y=Y[:3]), "npz:len.npz",
     "npz: len.npz: x has 4 samples but y has 3 labels; give one label per sample",
     "npz: len.npz：x 有 4 个样本，但 y 有 3 个标签；请为每个样本给出一个标签"),
    ("half a test split", _npz("half.npz", x=X, y=Y, x_test=X), "npz:half.npz",
     "npz: half.npz: give both x_test and y_test, or neither",
     "npz: half.npz：请同时给出 x_test 和 y_test，或者两者都不给"),
    ("test shape", _npz("shape.npz", x=X, y=Y, x_test=np.zeros((2, 3)), y_test=Y[:2]), "npz:shape.npz",
     "npz: shape.npz: x_test samples are (3,) but x samples (2,); save x_test with the sample shape of x",
     "npz: shape.npz：x_test 的样本形状是 (3,)，而 x 的样本形状是 (2,)；请按 x 的样本形状保存 x_test"),
    ("test lengths", _npz("tlen.npz", x=X, y=Y, x_test=X, y_test=Y[:2]), "npz:tlen.npz",
     "npz: tlen.npz: x_test has 4 samples but y_test has 2 labels; give one label per test sample",
     "npz: tlen.npz：x_test 有 4 个样本，但 y_test 有 2 个标签；请为每个测试样本给出一个标签"),
    ("numeric class names", _npz("cls.npz", x=X, y=Y, classes=np.array([1, 2])), "npz:cls.npz",
     "npz: cls.npz: 'classes' must be a 1-D array of strings",
     "npz: cls.npz：'classes' 必须是由字符串组成的 1 维数组"),
]
ARRAYS = [
    ("text features", _npz("text.npz", x=np.array([["a", "b"]] * 4), y=Y), "npz:text.npz",
     "npz: text.npz x: features must be numbers, not <U1",
     "npz: text.npz x：特征必须是数字，而不是 <U1"),
    ("flat features", _npz("flat.npz", x=np.arange(4.0), y=Y), "npz:flat.npz",
     "npz: flat.npz x: features have shape (4,); use (N, F) for tables, (N, C, L) for signals or (N, C, H, W) "
     "for images",
     "npz: flat.npz x：特征的形状是 (4,)；表格请用 (N, F)，信号请用 (N, C, L)，图像请用 (N, C, H, W)"),
    ("no samples", _npz("none.npz", x=np.zeros((0, 2)), y=Y[:0]), "npz:none.npz",
     "npz: none.npz x: features have shape (0, 2), which holds no data; save at least one sample with at least "
     "one value",
     "npz: none.npz x：特征的形状是 (0, 2)，其中没有任何数据；请至少保存一个样本，每个样本至少一个值"),
    ("NaN", _npz("nan.npz", x=np.array([[0.0], [np.nan], [1.0], [2.0]]), y=Y), "npz:nan.npz",
     "npz: nan.npz x: features contain NaN or infinity (or numbers too large for float32); clean or impute them "
     "first",
     "npz: nan.npz x：特征中含有 NaN 或无穷大（或超出 float32 范围的数）；请先清洗数据，或填补这些值"),
    ("2-D labels", _npz("y2.npz", x=X, y=Y.reshape(4, 1)), "npz:y2.npz",
     "npz: y2.npz y: labels must be one number per sample, got shape (4, 1)",
     "npz: y2.npz y：标签必须是每个样本一个数，得到的形状却是 (4, 1)"),
    ("fractional labels", _npz("frac.npz", x=X, y=np.array([0.5, 1.0, 0.0, 1.0])), "npz:frac.npz",
     "npz: frac.npz y: labels must be whole numbers (class indices), got float64 values such as [0.5 1. 0. ]",
     "npz: frac.npz y：标签必须是整数（类别编号），得到的却是 float64 类型的值，例如 [0.5 1. 0. ]"),
    ("one class", _npz("one.npz", x=X, y=np.zeros(4, dtype=int)), "npz:one.npz",
     "npz: one.npz: every sample has label 0; a classifier needs at least two classes",
     "npz: one.npz：每个样本的标签都是 0；分类器至少需要两个类别"),
    ("repeated class name", _npz("dup.npz", x=X, y=Y, classes=np.array(["a", "a"])), "npz:dup.npz",
     "npz: dup.npz: class names must differ; 'a' names more than one class",
     "npz: dup.npz：类别名称必须互不相同；'a' 被用作多个类别的名称"),
    ("labels past the class names", _npz("past.npz", x=X, y=np.array([0, 1, 2, 1]), classes=np.array(["a", "b"])),
     "npz:past.npz", "npz: past.npz: labels must be 0..1 to match the 2 class names",
     "npz: past.npz：标签必须在 0..1 之内，才能对应 2 个类别名称"),
    ("unseen test labels", _npz("unseen.npz", x=X, y=Y, x_test=X[:2], y_test=np.array([2, 0])), "npz:unseen.npz",
     "npz: unseen.npz: test labels [2] never occur in the training labels; add training samples of those classes, "
     "or drop them from the test split",
     "npz: unseen.npz：测试标签 [2] 从未出现在训练标签中；请为这些类别加入训练样本，或者把它们从测试集中去掉"),
]
CSV = [
    ("folder", _folders("d.csv"), "csv:d.csv",
     "csv: d.csv is a folder, not a file; pass csv:PATH to a CSV file, one sample a row, label last",
     "csv: d.csv 是文件夹，不是文件；请用 csv:PATH 指向一个 CSV 文件，每行一个样本，标签放在最后一列"),
    ("not UTF-8", _text("latin.csv", "a,b,label\n1,2,0\ncaf\xe9,3,1\n".encode("latin-1")), "csv:latin.csv",
     "csv: latin.csv is not UTF-8 text (byte 19); save it as UTF-8 CSV",
     "csv: latin.csv 不是 UTF-8 文本（在字节 19 处）；请把它另存为 UTF-8 编码的 CSV"),
    ("no rows", _text("blank.csv", "\n\n"), "csv:blank.csv",
     "csv: blank.csv has no rows; write one sample per row, the label in the last column",
     "csv: blank.csv 中没有任何行；请每行写一个样本，标签放在最后一列"),
    ("header only", _text("head.csv", "a,b,label\n"), "csv:head.csv",
     "csv: head.csv has a header but no data rows; write one sample per row below it",
     "csv: head.csv 有表头但没有数据行；请在表头下面每行写一个样本"),
    ("semicolons", _text("semi.csv", "1;2.5;0\n3;4;1\n"), "csv:semi.csv",
     "csv: semi.csv: its values are separated by semicolons, not commas; save it as comma-separated CSV",
     "csv: semi.csv：它的值是用分号而不是逗号分隔的；请把它另存为以逗号分隔的 CSV"),
    ("one column", _text("col.csv", "Sensor readings\n1\n2\n"), "csv:col.csv",
     "csv: col.csv: rows need at least two fields, features and a label",
     "csv: col.csv：每行至少需要两个字段：特征和标签"),
    ("ragged", _text("rag.csv", "a,b,label\n1,2,0\n3,4\n5,6,1\n"), "csv:rag.csv",
     "csv: rag.csv: row 3 has 2 fields, but rows have 3; fix the ragged row (a missing or extra comma?)",
     "csv: rag.csv：第 3 行有 2 个字段，但各行应有 3 个；请修正这一行（是不是少了或多了一个逗号？）"),
    ("empty cell", _text("hole.csv", "1.0,,0\n2.0,3.0,1\n0.5,1,0\n"), "csv:hole.csv",
     "csv: hole.csv: row 1, column 2 is empty; fill in every value (or drop the row): a missing value cannot be "
     "trained on",
     "csv: hole.csv：第 1 行第 2 列为空；请填好每一个值（或删掉这一行）：缺失的值无法用于训练"),
    ("text label", _text("cat.csv", "a,b,label\n1,2,0\n3,4,cat\n"), "csv:cat.csv",
     "csv: cat.csv: row 3, column 3 has the non-numeric label 'cat'; labels must be whole numbers",
     "csv: cat.csv：第 3 行第 3 列的标签 'cat' 不是数字；标签必须是整数"),
    ("text value", _text("val.csv", "1,2,0\n3,x,1\n"), "csv:val.csv",
     "csv: val.csv: row 2, column 2 has the non-numeric value 'x'; features must be numbers",
     "csv: val.csv：第 2 行第 2 列的值 'x' 不是数字；特征必须是数字"),
    ("infinity", _text("inf.csv", "1,2,0\n3,inf,1\n"), "csv:inf.csv",
     "csv: inf.csv: row 2, column 2 is 'inf'; use finite numbers",
     "csv: inf.csv：第 2 行第 2 列是 'inf'；请使用有限的数"),
    ("fractional label", _text("half.csv", "1,2,0\n3,4,1.5\n"), "csv:half.csv",
     "csv: half.csv: row 2 has the label '1.5'; labels must be whole numbers (class indices)",
     "csv: half.csv：第 2 行的标签是 '1.5'；标签必须是整数（类别编号）"),
]
IMAGEFOLDER = [
    ("absent", lambda: None, "imagefolder:absent",
     "imagefolder: absent is not a folder; pass imagefolder:PATH with one sub-folder per class",
     "imagefolder: absent 不是文件夹；请用 imagefolder:PATH 指向一个文件夹，其中每个类别各占一个子文件夹"),
    ("no class folders", _folders("bare"), "imagefolder:bare",
     "imagefolder: bare has no class sub-folders; put each class's images in its own folder, e.g. bare/cat/1.png "
     "and bare/dog/1.jpg",
     "imagefolder: bare 中没有类别子文件夹；请把每个类别的图像放进它自己的文件夹，"
     "例如 bare/cat/1.png 和 bare/dog/1.jpg"),
    ("empty class folders", _folders("pets/cat", "pets/dog"), "imagefolder:pets",
     "imagefolder: the class folder(s) cat, dog in pets hold no images (.jpg, .jpeg, .png, .ppm, ...); add some or "
     "remove the folder",
     "imagefolder: pets 中的类别文件夹 cat、dog 里没有图像（例如 .jpg, .jpeg, .png, .ppm 等格式）；请放入一些图像，"
     "或者删掉这样的文件夹"),
    ("one class", _images("solo", ("cat",)), "imagefolder:solo",
     "imagefolder: solo has only the class folder 'cat'; a classifier needs at least two classes, one sub-folder "
     "each",
     "imagefolder: solo 中只有一个类别文件夹 'cat'；分类器至少需要两个类别，每个类别一个子文件夹"),
    ("broken image", _images("pics", ("cat", "dog"), broken="dog/broken.png"), "imagefolder:pics",
     "imagefolder: cannot read image pics/dog/broken.png (UnidentifiedImageError: cannot identify image file "
     "'pics/dog/broken.png'); fix or remove it",
     "imagefolder: 无法读取图像 pics/dog/broken.png（UnidentifiedImageError: cannot identify image file "
     "'pics/dog/broken.png'）；请修复或删除它"),
]
CASES = [*NPZ, *ARRAYS, *CSV, *IMAGEFOLDER]


@pytest.mark.parametrize(("write", "dataset", "english", "chinese"), [case[1:] for case in CASES],
                         ids=[f"{case[2].split(':')[0]} {case[0]}" for case in CASES])
def test_compare_refuses_a_bad_data_file_in_its_language(
    write: Callable[[], None], dataset: str, english: str, chinese: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    write()
    en, zh = refused_in_both_languages(["compare", "--dataset", dataset, "--no-plot"], capsys, monkeypatch)
    assert (en, zh) == (f"error: {english}\n", f"error: {chinese}\n")
    says_the_same_in_chinese(en, zh, KEPT, NAMES)


@pytest.mark.parametrize("argv", [["gradcheck"], ["graph", "--model", "mlp"]], ids=["gradcheck", "graph"])
def test_the_other_commands_reading_a_data_set_refuse_it_in_chinese_too(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    _text("rag.csv", "a,b,label\n1,2,0\n3,4\n5,6,1\n")()
    en, zh = refused_in_both_languages([*argv, "--dataset", "csv:rag.csv"], capsys, monkeypatch)
    ragged = next(case for case in CSV if case[2] == "csv:rag.csv")
    assert (en, zh) == (f"error: {ragged[3]}\n", f"error: {ragged[4]}\n")
    _images("solo", ("cat",))()
    en, zh = refused_in_both_languages([*argv, "--dataset", "imagefolder:solo"], capsys, monkeypatch)
    assert "has only the class folder 'cat'" in en and "中只有一个类别文件夹 'cat'" in zh
    says_the_same_in_chinese(en, zh, KEPT, NAMES)


# --- refusals no speaking command reaches: checked on the exception -------------------------------------------

def test_a_bad_image_size_is_refused_in_chinese_too() -> None:
    """compare has no --image-size (train and the Python API have), so no command speaking Chinese reaches this."""
    from torchprimer.data.imagefolder import check_image_size

    with pytest.raises(UserError) as refused:
        check_image_size(0)
    assert str(refused.value) == "--image-size 0 must be a whole number of pixels from 2 to 1024, e.g. 32"
    assert refused.value.zh == "--image-size 0 必须是 2 到 1024 之间的整数（单位为像素），例如 32"


def test_a_csv_the_csv_module_cannot_parse_is_refused_in_chinese_too(tmp_path: Path) -> None:
    """A field past the csv module's limit (131072 characters): its own reason is quoted in both languages."""
    from torchprimer.data.csvfile import read_rows

    path = tmp_path / "huge.csv"
    path.write_text("1," + "2" * 200_000 + ",0\n", encoding="utf-8")
    with pytest.raises(UserError) as refused:
        read_rows(path)
    reason = "field larger than field limit (131072)"
    assert str(refused.value) == (f"csv: {path} is not a readable CSV file ({reason}); save it again as plain "
                                  "comma-separated text")
    assert refused.value.zh == f"csv: {path} 不是可读的 CSV 文件（{reason}）；请把它重新另存为以逗号分隔的纯文本"


def test_a_damaged_npz_archive_is_refused_in_chinese_too(tmp_path: Path) -> None:
    """A zip header over junk: numpy's reason is quoted as numpy gave it."""
    from torchprimer.data.npz import read_arrays

    path = tmp_path / "cut.npz"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 30)
    with pytest.raises(UserError) as refused:
        read_arrays(path)
    assert str(refused.value).startswith(f"npz: {path} is not a readable .npz archive (")
    assert str(refused.value).endswith(f"); write it with {SAVEZ}")
    assert refused.value.zh is not None
    assert refused.value.zh.startswith(f"npz: {path} 不是可读的 .npz 归档文件（")
    assert refused.value.zh.endswith(f"）；请用 {SAVEZ} 重新写出它")
