"""`torchprimer predict RUN_DIR FILE...`: classify new inputs exactly as training saw its data.

Inputs are brought to the data set's raw scale (bytes become [0, 1], as in training),
then normalised with the training split's mean and std stored in config.json; a model
fed differently scaled inputs gives confident nonsense, so this must match training.
Images are converted to the training size and channels; arrays and CSV rows must already
have the training shape, and a wrong one is a UserError that says which shape was expected.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchprimer.data.csvfile import is_header, is_number, other_separator
from torchprimer.data.imagefolder import WIDE_GRAY_MODES, eight_bit, training_picture
from torchprimer.data.splits import normalize, to_float
from torchprimer.errors import UserError, brief, check_whole
from torchprimer.runfolder import Run
from torchprimer.training.loop import predict_outputs
from torchprimer.training.run import float32_default

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class Sample:
    """One input in the data set's raw scale, shaped like a training sample."""

    name: str
    x: torch.Tensor
    notes: list[str] = field(default_factory=list)
    where: str = ""  # the path as given (with [i] or :line), for errors; `name` when empty


def _shape_text(shape: tuple[int, ...], batch: bool = False) -> str:
    """(1, 8, 8), (64,), or with `batch` (N, 1, 8, 8): how a person would write the shape."""
    dims = (["N"] if batch else []) + [str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def read_inputs(paths: list[Path], run: Run, *, invert: bool = False) -> list[Sample]:
    """Every sample in `paths`: one per image, one per row of a CSV, one or more per .npy."""
    samples: list[Sample] = []
    if invert and not any(path.suffix.lower() in IMAGE_SUFFIXES for path in paths):
        raise UserError("--invert turns an image's dark ink on light paper into the training data's light on dark; "
                        ".npy and .csv values are read as they are, so leave --invert out (or invert them yourself)")
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} does not exist or is not a file; give image, .npy or .csv files")
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            samples.append(read_image(path, run, invert=invert))
        elif suffix == ".npy":
            samples += read_npy(path, run.input_shape)
        elif suffix == ".csv":
            samples += read_csv(path, run.input_shape)
        else:
            raise UserError(f"{path}: cannot read {suffix or 'files without a suffix'}; "
                            "give PNG/JPEG images, .npy arrays or .csv rows")
    if not samples:
        raise UserError("the given files hold no samples; give image files, .npy arrays or .csv rows")
    return samples


GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")
# An image padded to training's aspect ratio is padded at full size, and resized after, when the padded
# picture holds at most this many pixels (4096x4096: any photo); a long thin strip (120000x1) would pad
# to billions, so it is shrunk first, towards training's size, and padded there.
PAD_FULL_SIZE_PIXELS = 2**24
PAD_SHRUNK_PIXELS = 2**22  # the most pixels a strip shrunk before padding is padded to (2048x2048)


def read_image(path: Path, run: Run, *, invert: bool = False) -> Sample:
    """An image file in the training's channels and size, with a note for every change made to it.

    Transparent pixels hold no picture, whatever colour the file keeps under them (often black,
    sometimes anything): they are composited onto black, the background of the digit data sets
    (onto white paper with --invert, which the inversion turns black). An image of another aspect
    ratio than training's is padded with its own edge colour (the median of its border pixels) to
    that ratio, as MNIST centres each digit in a square box, and then resized (antialiased), so
    that its strokes are not stretched. An imagefolder run is the exception: its training images were
    stretched and their alpha dropped (data/imagefolder.py), so its inputs go through that same reader.
    """
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as F

    shape = run.input_shape
    if run.kind != "image" or len(shape) != 3 or shape[0] not in (1, 3):
        raise UserError(f"{path} is an image, but this run was trained on {run.kind} data of shape "
                        f"{_shape_text(shape)}; give .npy arrays or .csv rows of that shape")
    channels, height, width = shape
    as_imagefolder = str(run.config.dataset).partition(":")[0] == "imagefolder"
    target = "L" if channels == 1 else "RGB"
    alpha = None
    try:
        with Image.open(path) as image:
            mode, size = image.mode, image.size
            frames = getattr(image, "n_frames", 1)  # an animated GIF, PNG or WebP, a multi-page TIFF
            depth = _depth_note(image)
            image = eight_bit(image)
            if image.has_transparency_data:  # LA, RGBA, or P/L/RGB with a tRNS colour
                rgba = image.convert("RGBA")
                alpha = to_float(F.pil_to_tensor(rgba.getchannel("A")))
                image = rgba.convert("RGB")  # the colours under the alpha, as convert("RGB") gives them
            if as_imagefolder:  # the pixels training's reader made of this file, stretched as they were
                image = training_picture(image, width)
            pixels = F.pil_to_tensor(image.convert(target))
    except Image.DecompressionBombError as exc:  # a few KB on disk that would decode to gigabytes
        raise UserError(f"{path} is too large to decode safely ({exc}); give an image of ordinary size") from None
    except (UnidentifiedImageError, OSError, EOFError, SyntaxError, ValueError) as exc:
        # Pillow names a broken PNG chunk by SyntaxError and an oversized text chunk by ValueError, and
        # eight_bit refuses a float image of no known range by ValueError: all mean "cannot read this file"
        raise UserError(f"{path} is not a readable image ({brief(exc, 160)}); give a PNG or JPEG file") from None
    x = to_float(pixels)
    notes = [f"first of {frames} frames"] if frames > 1 else []
    if depth:
        notes.append(depth)
    if alpha is not None and bool((alpha < 1).any()):  # a fully opaque alpha changes nothing
        if as_imagefolder:
            notes.append("alpha dropped, as training's imagefolder reader did")
        else:
            notes.append(_composite(x, alpha, invert))
            x = x * alpha + (1.0 if invert else 0.0) * (1 - alpha)
    if size != (width, height):
        same_ratio = size[0] * height == size[1] * width
        if same_ratio or as_imagefolder:
            note = f"resized {size[0]}x{size[1]} to {width}x{height}"
            if not same_ratio:
                note += " (stretched, as training's imagefolder images were)"
        else:
            (new_w, new_h), x = _pad_to_ratio(x, width, height)
            note = f"padded {size[0]}x{size[1]} to {new_w}x{new_h} with its edge colour"
            if (new_h, new_w) != (height, width):
                note += f", resized to {width}x{height}"
        if x.shape[1:] != (height, width):
            x = F.resize(x, [height, width], antialias=True).clamp(0, 1)
        notes.append(note)
    if (mode in GRAY_MODES) != (channels == 1):
        notes.append(f"converted {mode} to {'grayscale' if channels == 1 else 'RGB'}")
    if invert:
        x = 1 - x
        notes.append("inverted")
    return Sample(path.name, x, notes)


def _composite(x: torch.Tensor, alpha: torch.Tensor, invert: bool) -> str:
    """The note for compositing `x` (C, H, W) in [0, 1] onto black, or white with --invert: with a hint
    when the opaque pixels are as dark (or as light) as that background, where ink would vanish."""
    background = "white" if invert else "black"
    weight = float(alpha.sum())
    if weight == 0:
        return f"fully transparent: read as {background}"
    ink = float((x.mean(dim=0, keepdim=True) * alpha).sum()) / weight
    if not invert and ink < 0.5:
        return "alpha composited onto black; its opaque pixels are dark too: for dark ink, give --invert"
    if invert and ink >= 0.5:
        return "alpha composited onto white; its opaque pixels are light too: for light ink, leave out --invert"
    return f"alpha composited onto {background}"


def _depth_note(image: Any) -> str:
    """The note for an image eight_bit will scale to 8 bits, or "" for an 8-bit one (read before it)."""
    if image.mode in WIDE_GRAY_MODES:
        return "16-bit values scaled to 8 bits (/257)"
    if image.mode == "F":
        high = float(np.asarray(image, dtype=np.float64).max(initial=0.0))
        return "32-bit float values " + ("in [0, 1] scaled to 8 bits (x255)" if high <= 1 else "rounded to 8 bits")
    if any(";16" in str(tile.args) for tile in getattr(image, "tile", None) or []):  # 16-bit RGB(A), not yet loaded
        return "16-bit values scaled to 8 bits (high byte kept)"
    return ""


def _pad_to_ratio(x: torch.Tensor, width: int, height: int) -> tuple[tuple[int, int], torch.Tensor]:
    """`x` (C, H, W) padded, centred, to the aspect ratio width:height with the median of its border
    pixels per channel (the background of a digit, or of paper): the padded (width, height), and the
    padded pixels. A padded picture of over PAD_FULL_SIZE_PIXELS (a 120000x1 strip pads to 120000x120000,
    57.6 GB) is not made: `x` is shrunk (antialiased) by the factor that brings the padded picture to at
    most PAD_SHRUNK_PIXELS at training's aspect ratio, never below a pixel, and padded there."""
    from torchvision.transforms.v2 import functional as F

    _, h, w = x.shape
    if w * height > h * width:  # wider than the training images: rows above and below
        new_h, new_w = max(h, round(w * height / width)), w
    else:
        new_h, new_w = h, max(w, round(h * width / height))
    border = torch.cat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], dim=1)
    fill = border.median(dim=1).values
    out_h, out_w = new_h, new_w
    if new_h * new_w > PAD_FULL_SIZE_PIXELS:
        scale = max(1, math.isqrt(PAD_SHRUNK_PIXELS // (height * width)))  # padded to scale x training's size
        out_h, out_w = min(new_h, height * scale), min(new_w, width * scale)
        h = min(out_h, max(1, round(h * out_h / new_h)))
        w = min(out_w, max(1, round(w * out_w / new_w)))
        x = F.resize(x, [h, w], antialias=True).clamp(0, 1)
    out = fill.view(-1, 1, 1).expand(-1, out_h, out_w).clone()
    top, left = (out_h - h) // 2, (out_w - w) // 2
    out[:, top : top + h, left : left + w] = x
    return (new_w, new_h), out


def _as_samples(array: np.ndarray, shape: tuple[int, ...], where: str) -> torch.Tensor:
    """(N, *shape) from an array shaped like one sample or a stack of them.

    Single-channel data also accepts arrays without the channel axis, (H, W) or (N, H, W).
    """
    options = [shape]
    if len(shape) >= 2 and shape[0] == 1:
        options.append(shape[1:])
    for option in options:
        if array.shape == option:
            return torch.from_numpy(array.copy()).reshape(1, *shape)
        if array.ndim == len(option) + 1 and array.shape[1:] == option and array.shape[0] > 0:
            return torch.from_numpy(array.copy()).reshape(-1, *shape)
    if array.size == 0:
        raise UserError(f"{where} holds no samples (shape {_shape_text(array.shape)}); give at least one")
    raise UserError(f"{where} has shape {_shape_text(array.shape)}, but the model expects "
                    f"{_shape_text(shape)} per sample, or {_shape_text(shape, batch=True)} for N samples")


def read_npy(path: Path, shape: tuple[int, ...]) -> list[Sample]:
    """Samples from a .npy file, without pickle; uint8 is taken as bytes (scaled to [0, 1])."""
    try:
        with open(path, "rb") as fh:
            is_npy = fh.read(6) == b"\x93NUMPY"  # numpy.load would try pickle on anything else
        array = np.load(path, allow_pickle=False) if is_npy else None
    except ValueError as exc:
        raise UserError(f"{path} is not a plain .npy array ({brief(exc)}); "
                        "save it with numpy.save from a numeric array") from None
    except OSError as exc:
        raise UserError(f"{path} is not a readable .npy file ({exc}); save it with numpy.save") from None
    if array is None:
        raise UserError(f"{path} is not a .npy file (it does not start with NumPy's header); "
                        "save the array with numpy.save")
    if array.dtype.kind not in "biuf":  # bool reads as 0 and 1, as training's npz and csv features do
        raise UserError(f"{path} holds {array.dtype} values; give numbers (float32 or uint8)")
    _check_finite(array, str(path))  # before the cast: float64 values past float32's range would become inf
    x = _as_samples(array if array.dtype == np.uint8 else array.astype(np.float32), shape, str(path))
    if len(x) == 1:
        return [Sample(path.name, x[0], where=str(path))]
    return [Sample(f"{path.name}[{i}]", row, where=f"{path}[{i}]") for i, row in enumerate(x)]


def read_csv(path: Path, shape: tuple[int, ...]) -> list[Sample]:
    """One sample per row of numbers; a first row that is not numbers is a header and skipped."""
    size = math.prod(shape)
    samples = []
    header: list[str] | None = None
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            rows = list(csv.reader(fh))
        except UnicodeDecodeError:
            raise UserError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
        except csv.Error as exc:  # e.g. a NUL byte
            raise UserError(f"{path} is not a CSV file of numbers ({exc}); give rows of numbers only") from None
        for line_no, row in enumerate(rows, start=1):
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            if size > 1 and (sep := other_separator(cells)):  # "has a header" or "not a number" misled
                raise UserError(f"{path}:{line_no} has its values separated by {sep}, not commas; "
                                "save it as comma-separated CSV")
            if line_no == 1 and is_header(cells):  # as training's CSV reader tells a header from a sample
                header = cells
                continue
            try:
                values = [float(c) for c in cells]
            except ValueError:
                bad = next(c for c in cells if not is_number(c))
                raise UserError(f"{path}:{line_no} holds a value that is not a number ({bad[:20]!r}); "
                                "give rows of numbers only") from None
            if len(values) != size:
                raise UserError(f"{path}:{line_no} has {len(values)} values, but the model expects {size} per "
                                f"row (input shape {_shape_text(shape)}); drop any label or index column")
            _check_finite(np.asarray(values), f"{path}:{line_no}")
            x = torch.tensor(values, dtype=torch.float32).reshape(shape)
            samples.append(Sample(f"{path.name}:{line_no}", x, where=f"{path}:{line_no}"))
    if not samples:  # given beside other files, an empty one passed unnoticed: its rows were simply missing
        has = "a header but no rows of numbers" if header is not None else "no rows (it is empty)"
        raise UserError(f"{path} has {has}; give one sample per row")
    return samples


def _check_finite(x: np.ndarray, where: str) -> None:
    """Values a float32 model input can hold: finite, and within float32's range (±3.4e38)."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    if not bool(np.isfinite(x).all()):
        raise UserError(f"{where} holds NaN or infinite values; give finite numbers")
    largest = float(np.abs(x).max())
    if largest > float(np.finfo(np.float32).max):
        raise UserError(f"{where} holds values up to {largest:.3g}, beyond the ±3.4e38 a float32 input can hold; "
                        "give values in the training data's scale")


def check_scale(samples: list[Sample], run: Run) -> None:
    """Inputs in another scale than training's give confident nonsense, so say so: for images
    (trained in [0, 1]) values far outside [0, 1] are refused, for other data values far outside
    training's range get a note. "Far" is half the range beyond either end: a new table row may
    well lie a little outside the rows training saw, and an image may be brighter or dimmer than
    training's (a PNG is scaled to [0, 1] here, so it is never refused). An image whose values span
    under a tenth of [0, 1] gets a note too (sklearn's ink counts 0..16 saved as uint8 read as 0..16/255);
    a table row spans what its few features happen to hold, so it does not."""
    if run.raw_range is None:  # a run written before config.json kept the range
        return
    lo, hi = run.raw_range
    image = run.kind == "image" and lo >= 0 and hi <= 1  # trained on pixels scaled to [0, 1]
    ref_lo, ref_hi = (0.0, 1.0) if image else (lo, hi)
    margin = (ref_hi - ref_lo) / 2 or 1.0
    for sample in samples:
        x = to_float(sample.x)
        low, high = float(x.min()), float(x.max())
        if ref_lo - margin <= low and high <= ref_hi + margin:
            if image and high - low < (ref_hi - ref_lo) / 10:
                sample.notes.append(f"values {low:g}..{high:g} span under a tenth of [0, 1], the scale of training's "
                                    "pixels: is it in training's scale?")
            continue
        seen = f"values {low:g}..{high:g}, where training's inputs ran {lo:g}..{hi:g}"
        if image:
            if run.config.dataset == "digits" and low >= 0 and high <= 16:
                hint = "sklearn's load_digits() counts ink 0..16: divide by 16, as training did"
            elif low >= 0 and high <= 255:
                hint = "pixels 0..255: divide by 255, or save them as uint8, as training did"
            else:  # no division brings these to pixels
                hint = "give pixels in [0, 1], or 0..255 as uint8"
            raise UserError(f"{sample.where or sample.name} holds {seen} (image pixels scaled to [0, 1]); {hint}")
        sample.notes.append(f"{seen}: is it in training's scale?")


@float32_default()
def predict_files(run: Run, paths: list[Path], *, top: int = 3, invert: bool = False) -> dict[str, Any]:
    """Top-`top` classes with probabilities for every sample in `paths` (file names as Paths or strings)."""
    if isinstance(paths, (str, Path)):  # one file, as `torchprimer predict RUN FILE` takes it
        paths = [paths]
    top = check_whole("predict_files' top", top, 1, 3)
    samples = read_inputs([Path(p) for p in paths], run, invert=invert)
    check_scale(samples, run)
    x = torch.stack([to_float(s.x) for s in samples])
    outputs = predict_outputs(run.model, normalize(x, run.mean, run.std).to(run.device), amp=run.config.amp)
    probabilities = run.objective.probabilities(outputs).cpu()
    k = min(top, len(run.classes))
    values, indices = probabilities.topk(k, dim=1)
    predictions = [
        {"input": s.name, "notes": s.notes,
         "top": [{"class": run.classes[int(i)], "index": int(i), "probability": float(p)}
                 for p, i in zip(vals, idx, strict=True)]}
        for s, vals, idx in zip(samples, values, indices, strict=True)
    ]
    return {"run_dir": str(run.run_dir), "predictions": predictions}


def format_predictions(result: dict[str, Any]) -> str:
    """One line per sample: its name, then the top classes with their probabilities."""
    rows = result["predictions"]
    width = max(len(r["input"]) for r in rows)
    lines = []
    for r in rows:
        top = "  ".join(f"{t['class']} {t['probability']:.4f}" for t in r["top"])
        note = f"  ({'; '.join(r['notes'])})" if r["notes"] else ""
        lines.append(f"{r['input']:<{width}}  {top}{note}")
    return "\n".join(lines)
