"""`csv:PATH`: a table of numbers, one sample per row, comma-separated, UTF-8.

Layout:
  - an optional header row, recognised by a label column's name in it or by text in most of its
    filled cells (`is_header`): a first sample with a missing value (`1.0,,0` or `1.0,?,0`) is
    refused with its row named, not dropped as a header;
  - the label column is the one headed `label`, `y`, `target` or `class` (any case),
    else the last column; labels must be whole numbers;
  - every other column is a numeric feature (float32); empty cells, text, NaN and
    infinity are refused with the row and column named;
  - every row has the same number of fields.

    x1,x2,label
    0.5,1.25,0
    -0.1,2.0,1

There is no official test split: `prepare` makes a stratified one.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from torchprimer.data.arrays import check_labels, encode_labels
from torchprimer.data.cache import cached, path_slug
from torchprimer.data.registry import Dataset, LoadOptions
from torchprimer.errors import UserError

LABEL_NAMES = ("label", "y", "target", "class")


def is_number(text: str) -> bool:
    """Whether a CSV cell reads as a number (float() takes it): a row with a cell that does not is a header."""
    try:
        float(text)
    except ValueError:
        return False
    return True


SEPARATORS = {";": "semicolons", "\t": "tabs", " ": "spaces"}  # what a CSV from elsewhere may use for commas
SEPARATORS_ZH = {"semicolons": "分号", "tabs": "制表符", "spaces": "空格"}  # their names in a Chinese refusal


def other_separator(cells: list[str]) -> str | None:
    """The name of the separator a one-cell row uses instead of commas ("semicolons" for `1;2;0`, as a
    European spreadsheet writes CSV), or None: such a row is one field, and "at least two fields" or "not a
    number" would mislead. Only when every piece is a number, so a title line such as "Sensor readings" is not
    taken for one."""
    if len(cells) != 1:
        return None
    return next((name for sep, name in SEPARATORS.items()
                 if sep in cells[0].strip() and all(is_number(v) for v in cells[0].split(sep) if v.strip())), None)


def is_header(cells: list[str]) -> bool:
    """Whether a CSV's first row names its columns rather than holding a sample: a label column's
    name is among its cells, or most of its filled cells are not numbers. Empty cells do not count
    (pandas writes one above its index column), so `1.0,,0` and `1.0,?,0` are samples with a
    missing value, which the parser then refuses with the row named, not a header to skip."""
    filled = [c.strip() for c in cells if c.strip()]
    text = [c for c in filled if not is_number(c)]
    return bool(text) and (any(c.lower() in LABEL_NAMES for c in text) or 2 * len(text) > len(filled))


def read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """All rows that are not blank, as strings, with the line each starts on (so errors name the
    line an editor shows); undecodable or malformed text is a UserError naming the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"csv: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV",
                        zh=f"csv: {path} 不是 UTF-8 文本（在字节 {exc.start} 处）；"
                           "请把它另存为 UTF-8 编码的 CSV") from None
    rows = []
    reader = csv.reader(text.splitlines())
    try:
        line = 1
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise UserError(f"csv: {path} is not a readable CSV file ({exc}); save it again as plain comma-separated text",
                        zh=f"csv: {path} 不是可读的 CSV 文件（{exc}）；请把它重新另存为以逗号分隔的纯文本") from None
    if not rows:
        raise UserError(f"csv: {path} has no rows; write one sample per row, the label in the last column",
                        zh=f"csv: {path} 中没有任何行；请每行写一个样本，标签放在最后一列")
    return rows


def parse_table(
    numbered: list[tuple[int, list[str]]], where: str,
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """(features float32 (N, F), labels int64 (N,), header or None) from `read_rows`'s rows."""
    header = None
    if is_header(numbered[0][1]):
        header, numbered = [c.strip() for c in numbered[0][1]], numbered[1:]
    if not numbered:
        raise UserError(f"{where} has a header but no data rows; write one sample per row below it",
                        zh=f"{where} 有表头但没有数据行；请在表头下面每行写一个样本")
    rows = [row for _, row in numbered]
    width = len(header) if header is not None else len(rows[0])
    if width < 2:
        sep = other_separator(rows[0])
        if sep:
            sep_zh = SEPARATORS_ZH[sep]
            raise UserError(f"{where}: its values are separated by {sep}, not commas; save it as comma-separated CSV",
                            zh=f"{where}：它的值是用{sep_zh}而不是逗号分隔的；请把它另存为以逗号分隔的 CSV")
        raise UserError(f"{where}: rows need at least two fields, features and a label",
                        zh=f"{where}：每行至少需要两个字段：特征和标签")
    label_col = width - 1
    if header is not None:
        named = [i for i, name in enumerate(header) if name.lower() in LABEL_NAMES]
        label_col = named[0] if named else width - 1
    values = np.empty((len(rows), width), dtype=np.float64)
    for r, (line, row) in enumerate(numbered):
        if len(row) != width:
            raise UserError(f"{where}: row {line} has {len(row)} fields, but rows have {width}; "
                            f"fix the ragged row (a missing or extra comma?)",
                            zh=f"{where}：第 {line} 行有 {len(row)} 个字段，但各行应有 {width} 个；"
                               f"请修正这一行（是不是少了或多了一个逗号？）")
        for c, cell in enumerate(row):
            try:
                v = float(cell)
            except ValueError:
                what = "label" if c == label_col else "value"
                what_zh = "标签" if c == label_col else "值"
                if not cell.strip():
                    raise UserError(f"{where}: row {line}, column {c + 1} is empty; fill in every {what} "
                                    "(or drop the row): a missing value cannot be trained on",
                                    zh=f"{where}：第 {line} 行第 {c + 1} 列为空；请填好每一个{what_zh}"
                                       "（或删掉这一行）：缺失的值无法用于训练") from None
                raise UserError(f"{where}: row {line}, column {c + 1} has the non-numeric {what} {cell.strip()!r}; "
                                f"{'labels must be whole numbers' if c == label_col else 'features must be numbers'}",
                                zh=f"{where}：第 {line} 行第 {c + 1} 列的{what_zh} {cell.strip()!r} 不是数字；"
                                   f"{'标签必须是整数' if c == label_col else '特征必须是数字'}") from None
            if not math.isfinite(v) or (c != label_col and abs(v) > 3.4e38):
                raise UserError(f"{where}: row {line}, column {c + 1} is {cell.strip()!r}; use finite numbers",
                                zh=f"{where}：第 {line} 行第 {c + 1} 列是 {cell.strip()!r}；请使用有限的数")
            values[r, c] = v
    labels = values[:, label_col]
    if not (labels == np.round(labels)).all():
        bad = int(np.nonzero(labels != np.round(labels))[0][0])
        raise UserError(f"{where}: row {numbered[bad][0]} has the label {rows[bad][label_col].strip()!r}; "
                        f"labels must be whole numbers (class indices)",
                        zh=f"{where}：第 {numbered[bad][0]} 行的标签是 {rows[bad][label_col].strip()!r}；"
                           f"标签必须是整数（类别编号）")
    features = np.delete(values, label_col, axis=1).astype(np.float32)
    return features, check_labels(labels, where), header


def _read(path: Path) -> Dataset:
    where = f"csv: {path}"
    features, labels, _ = parse_table(read_rows(path), where)
    y, _, classes = encode_labels(labels, None, None, where)
    return Dataset(
        name=f"csv:{path}", x=torch.from_numpy(features), y=y, classes=classes,
        source=f"CSV file {path}", kind="table", flip_invariant=False,
    )


def load(options: LoadOptions) -> Dataset:
    path = Path(str(options.extra["path"])).expanduser()
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        what_zh = "是文件夹，不是文件" if path.is_dir() else "不存在"
        raise UserError(f"csv: {path} {what}; pass csv:PATH to a CSV file, one sample a row, label last",
                        zh=f"csv: {path} {what_zh}；请用 csv:PATH 指向一个 CSV 文件，每行一个样本，标签放在最后一列")
    return cached(options, path_slug("csv", path), {"loader": "csv"}, [path], lambda: _read(path))
