"""`torchprimer predict`: images, .npy arrays and CSV rows, normalised exactly as in training."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

import torchprimer
from torchprimer.cli import main
from torchprimer.errors import UserError
from torchprimer.predict import predict_files, read_inputs
from torchprimer.runfolder import load_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> torchprimer.TrainResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHPRIMER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        return torchprimer.train(dataset="digits", epochs=2, device="cpu", out=tmp_path_factory.mktemp("runs"),
                                 progress="none")


@pytest.fixture(scope="module")
def raw_test(trained: torchprimer.TrainResult) -> torch.Tensor:
    """The test images back in the data set's raw [0, 1] scale (digits: pixel count / 16)."""
    data = trained.data
    assert data is not None
    return (data.x_test.cpu() * data.std.view(1, -1, 1, 1) + data.mean.view(1, -1, 1, 1)).clamp(0, 1)


def reference_probabilities(trained: torchprimer.TrainResult, raw: torch.Tensor) -> torch.Tensor:
    """Softmax of the trained model on raw inputs normalised by hand, independently of predict.py."""
    data = trained.data
    assert data is not None
    x = (raw - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)
    trained.model.eval()
    with torch.no_grad():
        return trained.model(x).softmax(dim=1)


def probabilities(result: dict, classes: int = 10) -> torch.Tensor:
    """Full probability rows from a predict result asked for every class (top=10)."""
    rows = torch.zeros(len(result["predictions"]), classes)
    for i, p in enumerate(result["predictions"]):
        for t in p["top"]:
            rows[i, t["index"]] = t["probability"]
    return rows


def test_npy_and_csv_match_the_model_on_the_test_split(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    raw = raw_test[:5]
    expected = reference_probabilities(trained, raw)
    np.save(tmp_path / "stack.npy", raw.numpy())  # (5, 1, 8, 8)
    np.save(tmp_path / "nochannel.npy", raw[:, 0].numpy())  # (5, 8, 8) is accepted for 1-channel data
    np.save(tmp_path / "one.npy", raw[0, 0].numpy())  # a single (8, 8) sample
    header = ",".join(f"p{i}" for i in range(64))
    rows = "\n".join(",".join(repr(float(v)) for v in r.flatten()) for r in raw)
    (tmp_path / "rows.csv").write_text(header + "\n" + rows + "\n", encoding="utf-8")
    run = load_run(trained.run_dir, with_data=False)
    files = [tmp_path / n for n in ("stack.npy", "nochannel.npy", "one.npy", "rows.csv")]
    result = predict_files(run, files, top=10)
    names = [p["input"] for p in result["predictions"]]
    assert names[:2] == ["stack.npy[0]", "stack.npy[1]"] and "one.npy" in names and "rows.csv:2" in names
    got = probabilities(result)
    torch.testing.assert_close(got[0:5], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(got[5:10], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(got[10], expected[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(got[11:16], expected, atol=1e-5, rtol=0)
    top = result["predictions"][0]["top"]
    assert [t["probability"] for t in top] == sorted((t["probability"] for t in top), reverse=True)


def test_png_at_training_size_is_exact_and_uint8_is_scaled(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    pixels = (raw_test[:3, 0] * 255).round().to(torch.uint8).numpy()
    for i, p in enumerate(pixels):
        Image.fromarray(p, mode="L").save(tmp_path / f"d{i}.png")
    np.save(tmp_path / "bytes.npy", pixels)  # uint8 arrays are bytes: divided by 255 as in training
    expected = reference_probabilities(trained, torch.from_numpy(pixels).float().div(255).unsqueeze(1))
    run = load_run(trained.run_dir, with_data=False)
    result = predict_files(run, [tmp_path / f"d{i}.png" for i in range(3)] + [tmp_path / "bytes.npy"], top=10)
    got = probabilities(result)
    torch.testing.assert_close(got[:3], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(got[3:], expected, atol=1e-5, rtol=0)
    assert all(p["notes"] == [] for p in result["predictions"][:3])


def test_larger_rgb_png_and_jpeg_are_converted(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    gray = (raw_test[0, 0] * 255).round().to(torch.uint8).numpy()
    big = np.kron(gray, np.ones((4, 4), dtype=np.uint8))  # 32x32
    Image.fromarray(np.stack([big] * 3, axis=-1), mode="RGB").save(tmp_path / "big.png")
    Image.fromarray(big, mode="L").save(tmp_path / "big.jpg", quality=95)
    inverted = Image.fromarray(255 - gray, mode="L")
    inverted.save(tmp_path / "ink.png")
    run = load_run(trained.run_dir, with_data=False)
    result = predict_files(run, [tmp_path / "big.png", tmp_path / "big.jpg"], top=3)
    png, jpg = result["predictions"]
    assert png["notes"] == ["resized 32x32 to 8x8", "converted RGB to grayscale"]
    assert jpg["notes"] == ["resized 32x32 to 8x8"]
    for p in (png, jpg):
        assert len(p["top"]) == 3 and 0 < sum(t["probability"] for t in p["top"]) <= 1 + 1e-6
    # --invert turns dark ink on light paper back into the data set's light ink on dark.
    plain = predict_files(run, [tmp_path / "ink.png"], top=10, invert=True)
    Image.fromarray(gray, mode="L").save(tmp_path / "plain.png")
    direct = predict_files(run, [tmp_path / "plain.png"], top=10)
    torch.testing.assert_close(probabilities(plain), probabilities(direct), atol=1e-5, rtol=0)
    assert plain["predictions"][0]["notes"] == ["inverted"]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("small.npy", np.zeros((1, 7, 7), np.float32), "has shape (1, 7, 7), but the model expects (1, 8, 8)"),
        ("rgb.npy", np.zeros((8, 8, 3), np.float32), "has shape (8, 8, 3), but the model expects (1, 8, 8)"),
        ("flat.npy", np.zeros(64, np.float32), "(N, 1, 8, 8) for N samples"),
        ("nan.npy", np.full((8, 8), np.nan, np.float32), "NaN or infinite"),
        ("text.npy", np.array(["a", "b"]), "give numbers"),
        ("wide.csv", ",".join(["0"] * 65) + "\n", "rows.csv:1 has 65 values, but the model expects 64"),
        ("bad.csv", "a,b\n1,x\n", "is not a number"),
        ("notes.txt", "hello", "cannot read .txt"),
        ("notes.npy", "hello", "is not a .npy file (it does not start with NumPy's header)"),  # not "pickled"
        ("none.npy", np.zeros((0, 1, 8, 8), dtype=np.float32), "holds no samples (shape (0, 1, 8, 8))"),
        ("broken.png", b"not a png", "is not a readable image"),
        ("latin1.csv", "1,2,\xe9\n".encode("latin-1"), "is not UTF-8 text; save it as UTF-8 CSV"),
        ("hex.csv", ",".join(["0x10"] + ["0"] * 63) + "\n", "hex.csv:1 holds a value that is not a number ('0x10')"),
        ("nul.csv", b"1,2\x00,3\n", "nul.csv:1 holds a value that is not a number"),
        # a first row with a missing value is that, not a header to skip (64 values, one empty)
        ("gap.csv", ",".join(["1", ""] + ["0"] * 62) + "\n" + ",".join(["0"] * 64) + "\n",
         "gap.csv:1 holds a value that is not a number ('')"),
        ("header.csv", "a,b\n", "header.csv has a header but no rows of numbers"),
    ],
)
def test_bad_files_are_user_errors(
    trained: torchprimer.TrainResult, tmp_path: Path, name: str, content: object, expected: str
) -> None:
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(str(content), encoding="utf-8")
    if name == "wide.csv":
        path = path.rename(tmp_path / "rows.csv")
    run = load_run(trained.run_dir, with_data=False)
    with pytest.raises(UserError, match=re.escape(expected)):
        predict_files(run, [path])


def test_an_image_too_large_to_decode_safely_is_refused(
    trained: torchprimer.TrainResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A decompression bomb (a few KB of PNG that decodes to 900 million pixels): Pillow's limit,
    lowered here so that a small file passes it twice over, as the bomb passes the real one."""
    Image.new("L", (16, 16)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(UserError, match=r"bomb\.png is too large to decode safely"):
        predict_files(load_run(trained.run_dir, with_data=False), [tmp_path / "bomb.png"])


def test_missing_file_and_image_for_non_image_run(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run = load_run(trained.run_dir, with_data=False)
    with pytest.raises(UserError, match="does not exist"):
        predict_files(run, [tmp_path / "nope.png"])
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    run.data["kind"] = "table"
    with pytest.raises(UserError, match=r"trained on table data of shape \(1, 8, 8\)"):
        predict_files(run, [tmp_path / "x.png"])


def test_cli_predict_json_and_text(trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray((raw_test[0, 0] * 255).round().to(torch.uint8).numpy(), mode="L").save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", raw_test[:2].numpy())
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(trained.run_dir), str(tmp_path / "a.png"), str(tmp_path / "b.npy"), "--top", "2",
              "--json"])
    assert exit_info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert [p["input"] for p in result["predictions"]] == ["a.png", "b.npy[0]", "b.npy[1]"]
    assert all(len(p["top"]) == 2 for p in result["predictions"])
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(trained.run_dir), str(tmp_path / "a.png"), "--top", "1"])
    assert exit_info.value.code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("a.png  ") and line.split()[1] in trained.data.classes


def test_cli_wrong_shape_is_one_line_exit_2(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    np.save(tmp_path / "rgb.npy", np.zeros((2, 3, 8, 8), np.float32))
    proc = run_cli("predict", str(trained.run_dir), str(tmp_path / "rgb.npy"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "has shape (2, 3, 8, 8), but the model expects (1, 8, 8)" in proc.stderr


def test_cli_corrupted_weights_is_one_line_exit_2(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained.run_dir, run_dir)
    weights = run_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:40] = b"\x00garbage garbage garbage garbage"[:32]  # the JSON header
    weights.write_bytes(bytes(data))
    np.save(tmp_path / "one.npy", np.zeros((8, 8), np.float32))
    proc = run_cli("predict", str(run_dir), str(tmp_path / "one.npy"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "model.safetensors is corrupted or truncated" in proc.stderr


def test_config_keeps_the_training_inputs_raw_range(trained: torchprimer.TrainResult, raw_test: torch.Tensor) -> None:
    stored = json.loads((trained.run_dir / "config.json").read_text(encoding="utf-8"))
    data = trained.data
    assert data is not None
    raw_train = data.x_train.cpu() * data.std.view(1, -1, 1, 1) + data.mean.view(1, -1, 1, 1)
    lo, hi = stored["data"]["range"]
    assert lo == pytest.approx(float(raw_train.min()), abs=1e-5) and lo == pytest.approx(0.0, abs=1e-5)
    assert hi == pytest.approx(float(raw_train.max()), abs=1e-5) and hi == pytest.approx(1.0, abs=1e-5)


def test_digits_in_sklearns_0_to_16_scale_are_refused_with_the_fix(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    """load_digits().images counts ink 0..16; training divided by 16. Fed as is, the model gave
    confident nonsense; now the file is refused with what to do, and the fix predicts right."""
    counts = (raw_test[:4, 0] * 16).round().numpy().astype(np.float64)  # as sklearn hands them out
    np.save(tmp_path / "counts.npy", counts)
    run = load_run(trained.run_dir, with_data=False)
    with pytest.raises(UserError, match=r"counts\.npy\[0\] holds values 0\.\.16, .*divide by 16"):
        predict_files(run, [tmp_path / "counts.npy"])
    np.save(tmp_path / "scaled.npy", counts / 16)
    result = predict_files(run, [tmp_path / "scaled.npy"], top=10)
    torch.testing.assert_close(probabilities(result), reference_probabilities(
        trained, torch.from_numpy(counts / 16).float().unsqueeze(1)), atol=1e-5, rtol=0)
    np.save(tmp_path / "bytes_as_float.npy", counts * 255 / 16)
    with pytest.raises(UserError, match=re.escape("pixels 0..255: divide by 255")):
        predict_files(run, [tmp_path / "bytes_as_float.npy"])


def test_other_data_far_outside_the_training_range_gets_a_note(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    run = load_run(trained.run_dir, with_data=False)
    run.data["kind"] = "table"  # a table may lie outside training's range: noted, not refused
    np.save(tmp_path / "far.npy", (raw_test[:2] * 16).numpy())
    np.save(tmp_path / "near.npy", (raw_test[:1] * 1.2).numpy())  # within half the range of it
    result = predict_files(run, [tmp_path / "far.npy", tmp_path / "near.npy"])
    notes = [p["notes"] for p in result["predictions"]]
    assert all(n and "where training's inputs ran 0..1: is it in training's scale?" in n[0] for n in notes[:2])
    assert notes[2] == []
    del run.data["range"]  # a run from before config.json kept the range: no check, no note
    assert predict_files(run, [tmp_path / "far.npy"])["predictions"][0]["notes"] == []


def test_a_faint_sample_gets_a_note(trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path) -> None:
    """sklearn's digits (ink counts 0..16) saved as uint8 read as 0..16/255: 4 of 5 wrong, without a word."""
    counts = (raw_test[:3] * 16).round().to(torch.uint8).numpy()
    np.save(tmp_path / "counts.npy", counts)
    result = predict_files(load_run(trained.run_dir, with_data=False), [tmp_path / "counts.npy"])
    for prediction in result["predictions"]:
        assert prediction["notes"] and "span under a tenth of [0, 1]" in prediction["notes"][0]
    np.save(tmp_path / "scaled.npy", raw_test[:3].numpy())  # the same digits in training's scale: no note
    scaled = predict_files(load_run(trained.run_dir, with_data=False), [tmp_path / "scaled.npy"])
    assert all(p["notes"] == [] for p in scaled["predictions"])


def test_an_image_brighter_than_training_and_a_narrow_table_row_pass_without_a_word(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    """Images were held to training's own range: a set of dim pixels (0.24..0.47) refused a
    training image with one white row, telling the user to divide a PNG by 255. A table row, whose
    few features span little, was noted as "under a tenth" of training's range."""
    run = load_run(trained.run_dir, with_data=False)
    run.data["range"] = [0.24, 0.47]
    bright = raw_test[:1].clone()
    bright[0, 0, 0] = 1.0
    np.save(tmp_path / "bright.npy", bright.numpy())
    assert predict_files(run, [tmp_path / "bright.npy"])["predictions"][0]["notes"] == []
    run.data["kind"] = "table"
    run.data["range"] = [-1.4, 2.5]
    np.save(tmp_path / "row.npy", np.full((1, 1, 8, 8), 0.6, dtype=np.float32))
    assert predict_files(run, [tmp_path / "row.npy"])["predictions"][0]["notes"] == []


def test_a_hand_edited_range_is_refused(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(trained.run_dir, run_dir)
    stored = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    stored["data"]["range"] = [1, 0]
    (run_dir / "config.json").write_text(json.dumps(stored), encoding="utf-8")
    with pytest.raises(UserError, match=r"data.range must be \[min, max\]"):
        load_run(run_dir, with_data=False)


def test_16_bit_grayscale_png_is_read_like_its_8_bit_twin(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    """Pillow's convert("L") clips mode I;16 at 255 of 65535 (a white square); predict scales it."""
    pixels = (raw_test[:1, 0] * 255).round().to(torch.uint8).numpy()[0]
    Image.fromarray(pixels, mode="L").save(tmp_path / "eight.png")
    Image.fromarray(pixels.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode == "I;16"
    run = load_run(trained.run_dir, with_data=False)
    eight, sixteen = (predict_files(run, [tmp_path / f"{n}.png"], top=10) for n in ("eight", "sixteen"))
    assert probabilities(eight).tolist() == probabilities(sixteen).tolist()


def test_damaged_or_odd_images_are_one_line_exit_2(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """Pillow raises more than OSError for a file it cannot read: SyntaxError for a broken PNG chunk,
    ValueError for an oversized text chunk, and imagefolder's ValueError for a float image of no known
    range. Each was a traceback; each is now a UserError naming the file (one line, exit code 2)."""
    from PIL import ImageFile, PngImagePlugin

    pixels = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ImageFile, "MAXBLOCK", 256)  # several IDAT chunks, so that the second can be broken
        Image.fromarray(pixels, mode="L").save(tmp_path / "chunks.png")
    data = bytearray((tmp_path / "chunks.png").read_bytes())
    first = data.find(b"IDAT")
    second = first + 4 + int.from_bytes(data[first - 4 : first], "big") + 4  # past the data and the CRC
    data[second + 4 : second + 8] = b"ID\x00T"  # the second chunk's type
    (tmp_path / "chunk.png").write_bytes(bytes(data))
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 2**21, zip=True)  # past Pillow's MAX_TEXT_CHUNK once decompressed
    Image.fromarray(pixels[:8, :8], mode="L").save(tmp_path / "text.png", pnginfo=info)
    Image.fromarray(np.full((8, 8), 1000.0, dtype=np.float32), mode="F").save(tmp_path / "float.tif")
    run = load_run(trained.run_dir, with_data=False)
    for name, expected in (("chunk.png", "broken PNG file"), ("text.png", "Decompressed data too large"),
                           ("float.tif", "a 32-bit float image with values 1000..1000")):
        with pytest.raises(UserError, match=re.escape(f"{tmp_path / name} is not a readable image")) as info:
            predict_files(run, [tmp_path / name])
        assert expected in str(info.value)


def test_an_empty_csv_is_named_not_skipped(trained: torchprimer.TrainResult, raw_test: torch.Tensor,
                                           tmp_path: Path) -> None:
    """An empty CSV beside other files added no row and no word, so its samples went missing unnoticed;
    alone it gave "the given files hold no samples", naming no file."""
    np.save(tmp_path / "one.npy", raw_test[:1].numpy())
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    (tmp_path / "blank.csv").write_text("\n \n", encoding="utf-8")
    run = load_run(trained.run_dir, with_data=False)
    for name in ("empty.csv", "blank.csv"):
        with pytest.raises(UserError, match=re.escape(f"{tmp_path / name} has no rows (it is empty)")):
            predict_files(run, [tmp_path / "one.npy", tmp_path / name])


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolons"), ("\t", "tabs"), (" ", "spaces")])
def test_a_csv_separated_by_other_than_commas_says_so(trained: torchprimer.TrainResult, tmp_path: Path,
                                                      sep: str, name: str) -> None:
    """One row of 64 numbers split by semicolons was read as one cell, "a header but no rows of numbers";
    two rows were "a value that is not a number". Neither said what was wrong with the file."""
    path = tmp_path / "rows.csv"
    run = load_run(trained.run_dir, with_data=False)
    for rows in (1, 2):
        path.write_text((sep.join(["0.5"] * 64) + "\n") * rows, encoding="utf-8")
        with pytest.raises(UserError, match=re.escape(f"rows.csv:1 has its values separated by {name}, not commas")):
            predict_files(run, [path])


def _model_input(run: object, path: Path, invert: bool = False) -> torch.Tensor:
    """What predict hands the model for one image file, in the raw [0, 1] scale."""
    samples = read_inputs([path], run, invert=invert)
    assert len(samples) == 1
    return samples[0].x


def test_transparent_pixels_become_the_training_background_not_the_colour_under_them(
    trained: torchprimer.TrainResult, raw_test: torch.Tensor, tmp_path: Path
) -> None:
    """convert("L") dropped the alpha channel, so the colour a file keeps under transparent pixels
    became the picture: white ink whose strokes are its alpha (white everywhere beneath) read as a white
    square, a palette's transparent entry as its grey. Transparent pixels are now composited onto
    black, the digits' background, or onto white paper with --invert (which turns it black)."""
    gray = (raw_test[0, 0] * 255).round().to(torch.uint8).numpy()
    digit = torch.from_numpy(gray).float().div(255).unsqueeze(0)  # what the opaque digit PNG gives
    white = np.full_like(gray, 255)
    Image.fromarray(np.stack([white, white, white, gray], axis=-1), mode="RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.stack([white, gray], axis=-1), mode="LA").save(tmp_path / "la.png")
    ink = (gray > 127).astype(np.uint8)  # palette: 0 transparent (a grey under it), 1 white ink
    palette = Image.fromarray(ink, mode="P")
    palette.putpalette([128, 128, 128, 255, 255, 255])
    palette.save(tmp_path / "palette.png", transparency=0)
    black = np.zeros_like(gray)
    Image.fromarray(np.stack([black, black, black, gray], axis=-1), mode="RGBA").save(tmp_path / "dark.png")
    run = load_run(trained.run_dir, with_data=False)

    for name in ("rgba.png", "la.png"):  # the old code gave 1.0 everywhere
        torch.testing.assert_close(_model_input(run, tmp_path / name), digit, atol=1e-6, rtol=0)
    assert Image.open(tmp_path / "palette.png").mode == "P"
    torch.testing.assert_close(_model_input(run, tmp_path / "palette.png"),
                               torch.from_numpy(ink).float().unsqueeze(0), atol=0, rtol=0)  # not 128/255
    # dark ink on a transparent background is dark ink on white paper: --invert makes it the digit
    torch.testing.assert_close(_model_input(run, tmp_path / "dark.png", invert=True), digit, atol=1e-6, rtol=0)
    assert float(_model_input(run, tmp_path / "dark.png").abs().max()) == 0  # without --invert, no ink left

    result = predict_files(run, [tmp_path / n for n in ("rgba.png", "la.png", "palette.png", "dark.png")], top=10)
    notes = [p["notes"] for p in result["predictions"]]
    assert notes[0] == ["alpha composited onto black", "converted RGBA to grayscale"]
    assert notes[1] == ["alpha composited onto black"]  # LA is grayscale: nothing converted
    assert notes[2] == ["alpha composited onto black", "converted P to grayscale"]
    assert notes[3][0] == "alpha composited onto black; its opaque pixels are dark too: for dark ink, give --invert"
    torch.testing.assert_close(probabilities(result)[:2], reference_probabilities(trained, digit.unsqueeze(0))
                               .expand(2, -1), atol=1e-5, rtol=0)
    inverted = predict_files(run, [tmp_path / "dark.png"], invert=True)["predictions"][0]["notes"]
    assert inverted == ["alpha composited onto white", "converted RGBA to grayscale", "inverted"]
    opaque = np.stack([gray, gray, gray, white], axis=-1)  # an alpha of 255 everywhere changes nothing
    Image.fromarray(opaque, mode="RGBA").save(tmp_path / "opaque.png")
    torch.testing.assert_close(_model_input(run, tmp_path / "opaque.png"), digit, atol=0, rtol=0)
    assert predict_files(run, [tmp_path / "opaque.png"])["predictions"][0]["notes"] == ["converted RGBA to grayscale"]


def test_a_non_square_image_is_padded_not_stretched(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """A 16x32 "1" was stretched to 8x8, its stroke twice as wide as written. It is now padded to a
    square with its edge colour (MNIST centres each digit in a square box), then resized: exactly
    what the same digit drawn on a square canvas gives."""
    tall = np.zeros((32, 16), dtype=np.uint8)
    tall[4:28, 6:10] = 255
    Image.fromarray(tall, mode="L").save(tmp_path / "tall.png")
    Image.fromarray(np.pad(tall, ((0, 0), (8, 8))), mode="L").save(tmp_path / "square.png")
    # dark ink on grey paper (200), wide: padded with the paper above and below, then --invert
    wide = np.full((10, 40), 200, dtype=np.uint8)
    wide[4:6, 5:35] = 0
    Image.fromarray(wide, mode="L").save(tmp_path / "wide.png")
    Image.fromarray(np.pad(wide, ((15, 15), (0, 0)), constant_values=200), mode="L").save(tmp_path / "wide_sq.png")
    small = np.arange(48, dtype=np.uint8).reshape(8, 6) + 100  # 6 wide, 8 high: padded only, no resize
    small[:, 0] = small[:, -1] = 7
    Image.fromarray(small, mode="L").save(tmp_path / "small.png")
    run = load_run(trained.run_dir, with_data=False)

    padded, square = _model_input(run, tmp_path / "tall.png"), _model_input(run, tmp_path / "square.png")
    torch.testing.assert_close(padded, square, atol=1e-6, rtol=0)
    assert float(padded[0, :, :2].abs().max()) == 0 and float(padded[0, :, 6:].abs().max()) == 0  # not stretched
    torch.testing.assert_close(_model_input(run, tmp_path / "wide.png", invert=True),
                               _model_input(run, tmp_path / "wide_sq.png", invert=True), atol=1e-6, rtol=0)
    expected = torch.from_numpy(np.pad(small, ((0, 0), (1, 1)), constant_values=7)).float().div(255).unsqueeze(0)
    torch.testing.assert_close(_model_input(run, tmp_path / "small.png"), expected, atol=0, rtol=0)

    result = predict_files(run, [tmp_path / n for n in ("tall.png", "wide.png", "small.png", "square.png")])
    notes = [p["notes"] for p in result["predictions"]]
    assert notes[0] == ["padded 16x32 to 32x32 with its edge colour, resized to 8x8"]
    assert notes[1] == ["padded 40x10 to 40x40 with its edge colour, resized to 8x8"]
    assert notes[2] == ["padded 6x8 to 8x8 with its edge colour"]
    assert notes[3] == ["resized 32x32 to 8x8"]
    # in colour, each channel is padded with its own edge median: a red stripe on blue stays on blue
    stripe = np.zeros((8, 16, 3), dtype=np.uint8)
    stripe[...] = (0, 0, 255)
    stripe[3:5, 2:14] = (255, 0, 0)
    Image.fromarray(stripe, mode="RGB").save(tmp_path / "stripe.png")
    run.data["input_shape"] = [3, 8, 8]
    x = _model_input(run, tmp_path / "stripe.png")
    assert x.shape == (3, 8, 8)
    blue = torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 2, 8)
    torch.testing.assert_close(x[:, :2], blue, atol=1e-6, rtol=0)  # the padded rows: blue, not black


def test_an_imagefolder_run_reads_images_as_its_training_did(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """imagefolder training stretches every image to its square size and drops alpha
    (data/imagefolder.py); its model learnt from such images, so predict reads them through the same
    reader, to the very pixels training stored, and says so."""
    from torchprimer.data.imagefolder import read_image as training_reader

    tall = np.zeros((32, 16), dtype=np.uint8)
    tall[4:28, 6:10] = 255
    Image.fromarray(np.stack([tall, tall, tall, np.full_like(tall, 128)], axis=-1), mode="RGBA").save(
        tmp_path / "tall.png")
    run = load_run(trained.run_dir, with_data=False)
    run.config.dataset = "imagefolder:photos"
    stored, _ = training_reader(str(tmp_path / "tall.png"), 8)  # uint8 (8, 8, 3), as the training set holds it
    as_trained = torch.from_numpy(stored[:, :, 0].copy()).float().div(255).unsqueeze(0)
    torch.testing.assert_close(_model_input(run, tmp_path / "tall.png"), as_trained, atol=0, rtol=0)
    assert predict_files(run, [tmp_path / "tall.png"])["predictions"][0]["notes"] == [
        "alpha dropped, as training's imagefolder reader did",
        "resized 16x32 to 8x8 (stretched, as training's imagefolder images were)",
        "converted RGBA to grayscale",
    ]


def test_cli_prints_the_alpha_and_padding_notes(trained: torchprimer.TrainResult, raw_test: torch.Tensor,
                                                tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gray = (raw_test[0, 0] * 255).round().to(torch.uint8).numpy()
    wide = np.kron(gray, np.ones((2, 4), dtype=np.uint8))  # 32 wide, 16 high
    white = np.full_like(wide, 255)
    Image.fromarray(np.stack([white, wide], axis=-1), mode="LA").save(tmp_path / "wide.png")
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(trained.run_dir), str(tmp_path / "wide.png"), "--top", "1"])
    assert exit_info.value.code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("wide.png  ")
    assert line.endswith("(alpha composited onto black; padded 32x16 to 32x32 with its edge colour, resized to 8x8)")


def test_a_long_thin_strip_is_shrunk_before_it_is_padded(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """A 120000x1 PNG (196 bytes) was padded at full size to 120000x120000 before the resize: 57.6 GB,
    a traceback (a 20000x1 one took 2.3 GB and 8 s). It is now shrunk towards training's size first
    and padded there, noted as before; here under an 8 GB address-space limit, as a user's machine."""
    import resource
    import subprocess
    import sys

    Image.new("L", (120000, 1), 0).save(tmp_path / "strip.png")

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (8 * 2**30, 8 * 2**30))

    done = subprocess.run([sys.executable, "-m", "torchprimer", "predict", str(trained.run_dir),
                           str(tmp_path / "strip.png"), "--top", "1"], capture_output=True, text=True,
                          timeout=240, check=False, preexec_fn=limited)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "(padded 120000x1 to 120000x120000 with its edge colour, resized to 8x8" in done.stdout
    # a thin white line on black, wide enough to be shrunk first: where the full-size padding put it, as faint
    line = np.zeros((4, 6000), dtype=np.uint8)  # its border black, so padded with black
    line[1:3, 1000:5000] = 255
    Image.fromarray(line, mode="L").save(tmp_path / "line.png")
    run = load_run(trained.run_dir, with_data=False)
    full = torch.zeros(1, 6000, 6000)
    full[:, 2998:3002] = torch.from_numpy(line).float().div(255)
    from torchvision.transforms.v2 import functional as F

    exact = F.resize(full, [8, 8], antialias=True)
    torch.testing.assert_close(_model_input(run, tmp_path / "line.png"), exact, atol=1e-5, rtol=0.2)


def test_changes_made_in_reading_an_image_are_noted(trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """An animated GIF was read by its first frame, a 16-bit PNG or 32-bit float TIFF scaled to 8 bits,
    each without a word; every change made to an input is noted beside its prediction."""
    frames = [Image.new("L", (8, 8), v) for v in (0, 100, 200)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(np.full((8, 8), 30000, dtype=np.uint16)).save(tmp_path / "sixteen.png")
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32), mode="F").save(tmp_path / "unit.tif")
    Image.fromarray(np.full((8, 8), 100.0, dtype=np.float32), mode="F").save(tmp_path / "bytes.tif")
    Image.new("L", (8, 8), 0).save(tmp_path / "still.gif")
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + row.tobytes() for row in np.full((8, 8, 3), 40000, dtype=">u2"))  # Pillow cannot write it
    header = struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0)  # 8x8, 16 bits per channel, RGB
    (tmp_path / "rgb16.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                         + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    run = load_run(trained.run_dir, with_data=False)
    names = ("moving.gif", "sixteen.png", "unit.tif", "bytes.tif", "still.gif", "rgb16.png")
    notes = [p["notes"] for p in predict_files(run, [tmp_path / n for n in names])["predictions"]]
    assert notes[0][0] == "first of 3 frames"
    assert notes[1][0] == "16-bit values scaled to 8 bits (/257)"
    assert notes[2][0] == "32-bit float values in [0, 1] scaled to 8 bits (x255)"
    assert notes[3][0] == "32-bit float values rounded to 8 bits"
    assert not any("frames" in n or "bits" in n for n in notes[4])
    assert notes[5][0] == "16-bit values scaled to 8 bits (high byte kept)"


def test_values_no_division_makes_pixels_get_no_divide_hint_and_the_path_as_given(
    trained: torchprimer.TrainResult, tmp_path: Path
) -> None:
    """1e30 everywhere was told "pixels 0..255: divide by 255", which cannot bring it to [0, 1]; and
    the error named the file alone, where other errors name the path as given."""
    np.save(tmp_path / "huge.npy", np.full((1, 8, 8), 1e30, dtype=np.float32))
    np.save(tmp_path / "bytes.npy", np.full((2, 8, 8), 200.0, dtype=np.float32))
    run = load_run(trained.run_dir, with_data=False)
    with pytest.raises(UserError) as info:
        predict_files(run, [tmp_path / "huge.npy"])
    assert str(info.value).startswith(f"{tmp_path / 'huge.npy'} holds values 1e+30..1e+30")
    assert "divide" not in str(info.value) and "give pixels in [0, 1], or 0..255 as uint8" in str(info.value)
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'bytes.npy'}[0] holds values 200..200")) as info:
        predict_files(run, [tmp_path / "bytes.npy"])
    assert "pixels 0..255: divide by 255" in str(info.value)


def test_a_bool_array_reads_as_zeros_and_ones_as_training_reads_bool_features(
        trained: torchprimer.TrainResult, tmp_path: Path) -> None:
    """Training takes bool features as 0 and 1 (data.arrays.check_features), so predict does the same; an
    array of no numbers at all (complex, strings) is refused in one line."""
    from torchprimer.data.arrays import check_features
    from torchprimer.predict import read_npy

    mask = np.arange(64).reshape(1, 8, 8) % 3 == 0
    np.save(tmp_path / "mask.npy", mask)
    (sample,) = read_npy(tmp_path / "mask.npy", (1, 8, 8))
    assert torch.equal(sample.x, check_features(mask, "mask")[0].reshape(1, 8, 8))
    np.save(tmp_path / "c.npy", np.ones((1, 8, 8), dtype=np.complex64))
    with pytest.raises(UserError, match="holds complex64 values; give numbers"):
        read_npy(tmp_path / "c.npy", (1, 8, 8))
