"""Options that would do nothing, and values past what the machine or the format can hold, are
one line and exit 2 before any file, naming what to do: a silently ignored option misleads the
learner into thinking it shaped the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import fails

import torchprimer
from torchprimer.cli import main
from torchprimer.data import LoadOptions, check_data_options, load, prepare
from torchprimer.errors import UserError
from torchprimer.models import ModelSpec, build_model, parameter_count, parse_hidden


@pytest.mark.parametrize(("argv", "expected"), [
    (["train", "--optimizer", "adam", "--momentum", "0.5"], "--momentum does nothing with --optimizer adam"),
    (["train", "--optimizer", "adamw", "--momentum", "0.5"], "--momentum does nothing with --optimizer adamw"),
    # typed, an option asks for something even at its default (train(**config.json) may pass defaults back)
    (["train", "--optimizer", "adam", "--momentum", "0.9"], "--momentum does nothing with --optimizer adam"),
    (["train", "--model", "linear", "--activation", "relu"], "--activation does nothing for --model linear"),
    (["train", "--model", "linear", "--hidden", "32", "--dropout", "0.1"],
     "--hidden, --dropout do nothing for --model linear"),
    (["train", "--model", "neuron", "--dataset", "moons", "--activation", "tanh"],
     "--activation does nothing for --model neuron"),
    (["train", "--model", "cnn", "--hidden", "32"], "--hidden does nothing for --model cnn"),
    (["train", "--model", "cnn", "--batchnorm"], "--batchnorm does nothing for --model cnn"),
    (["train", "--noise", "0.2"], "--noise does nothing for digits (--noise is read by moons"),
    (["train", "--image-size", "16", "--n-samples", "100", "--data-seed", "1"],
     "--data-seed, --image-size, --n-samples do nothing for digits"),
    (["train", "--download"], "--download does nothing for digits (--download is read by mnist"),
    (["train", "--data-dir", "/no/such/folder"], "--data-dir does nothing for digits"),
    (["train", "--dataset", "mnist1d", "--noise", "0.1"], "--noise does nothing for mnist1d"),
    (["train", "--dataset", "mnist1d", "--test-fraction", "0.2"],
     "--test-fraction does nothing for mnist1d, which has its own test split"),
    (["train", "--master-port", "29500"], "--master-port does nothing without --nproc"),
    (["train", "--device", "cpu", "--no-cuda-graph"], "--no-cuda-graph does nothing with --device cpu"),
    (["train", "--schedule", "onecycle", "--warmup", "0"], "--warmup 0 does nothing with --schedule onecycle"),
    # batch norm in training needs 2 rows a batch: torch stopped the run after a whole epoch
    (["train", "--dataset", "moons", "--n-samples", "20", "--batchnorm", "--batch-size", "15"],
     "--batchnorm needs at least 2 rows per batch, and --batch-size 15 leaves a batch of 1 of the 16 training "
     "rows; use e.g. --batch-size 16"),
    (["data", "stats", "digits", "--noise", "0.3"], "--noise does nothing for digits"),
    (["data", "inspect", "mnist1d", "--data-dir", "x"], "--data-dir does nothing for mnist1d"),
    (["data", "inspect", "digits", "--image-size", "0"], "'--image-size'"),
    (["train", "--threads", str(10**12)], "--threads 1000000000000 must be a whole number from 1 to 1024"),
    (["train", "--dataset", "moons", "--noise", "1e308"], "--noise 1e+308 must be from 0 to 100"),
    (["train", "--hidden", "10000000000000"], "at most 1,000 layers of at most 1,000,000 units"),
    (["train", "--hidden", ",".join(["4"] * 1001)], "at most 1,000 layers"),
    # infinity is greater than 0: "--lr inf must be greater than 0" named the wrong fault
    (["train", "--lr", "inf"], "--lr inf must be a finite number; try --lr 0.001"),
    (["train", "--lr", "nan"], "--lr nan must be a finite number"),
    (["train", "--optimizer", "sgd", "--clip", "inf"], "--clip inf must be a finite number; try --clip 1.0"),
    (["train", "--lr", "0"], "--lr 0.0 must be greater than 0"),
    (["train", "--weight-decay", "inf"], "--weight-decay inf must be a finite number, 0 or more"),
])
def test_an_option_that_would_do_nothing_or_cannot_work_is_refused_before_any_file(
    argv: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert expected in fails(argv, capsys)
    assert list(tmp_path.iterdir()) == []


def test_options_that_apply_are_still_taken(tmp_path: Path) -> None:
    quick = {"epochs": 1, "progress": "none", "save": False}
    sgd = torchprimer.train(dataset="moons", optimizer="sgd", momentum=0.5, noise=0.3, n_samples=200, **quick)
    assert sgd.config.momentum == 0.5 and sgd.config.noise == 0.3
    cnn = torchprimer.train(model="cnn", activation="tanh", dropout=0.1, **quick)
    assert cnn.config.activation == "tanh"
    with pytest.raises(UserError, match="--momentum does nothing with --optimizer adam"):
        torchprimer.train(momentum=0.5, **quick)  # the Python API says the same as the command


def test_the_registry_says_which_sets_read_each_data_option() -> None:
    check_data_options("moons", {"noise", "n_samples", "data_seed"})
    check_data_options("mnist", {"data_dir", "download"})
    check_data_options("imagefolder:photos", {"image_size"})
    with pytest.raises(UserError, match=r"--image-size does nothing for npz \(--image-size is read by imagefolder\)"):
        check_data_options("npz:a.npz", {"image_size"})


def test_a_model_too_big_for_memory_is_refused_before_it_is_allocated(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec(name="mlp", hidden=(30_000, 30_000))
    count = parameter_count(spec, (1, 8, 8), 10)  # on torch's meta device: shapes only, no memory
    assert count == 64 * 30_000 + 30_000 + 30_000 * 30_000 + 30_000 + 30_000 * 10 + 10
    monkeypatch.setattr("torchprimer.models.physical_memory", lambda: 16 * count - 1)
    with pytest.raises(UserError, match=r"would have 902,280,010 parameters: 13\.4 GiB to train"):
        build_model(spec, (1, 8, 8), 10)
    small = ModelSpec(name="mlp", hidden=(8,))
    assert sum(p.numel() for p in build_model(small, (1, 8, 8), 10).parameters()) == parameter_count(
        small, (1, 8, 8), 10)
    with pytest.raises(UserError, match="at most 1,000,000 units"):
        parse_hidden([10**30])


def test_gradcheck_counts_its_float64_copies_against_memory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """gradcheck holds about 44 bytes a parameter (float64 copies and gradients), not training's 16:
    a model between the two passed the guard and then failed to allocate, with a traceback."""
    from torchprimer.autodiff.check import CHECK_BYTES_PER_PARAMETER

    count = parameter_count(ModelSpec(name="mlp", hidden=(300, 300)), (1, 8, 8), 10)
    monkeypatch.setattr("torchprimer.models.physical_memory", lambda: 20 * count)  # enough to train it
    assert CHECK_BYTES_PER_PARAMETER * count > 20 * count
    assert "to check in float64" in fails(["gradcheck", "--hidden", "300,300"], capsys)
    build_model(ModelSpec(name="mlp", hidden=(300, 300)), (1, 8, 8), 10)  # training's guard still takes it


def test_an_empty_split_names_a_setting_that_fills_every_split() -> None:
    data = load("mnist1d", LoadOptions(n_samples=20, cache_dir=None))
    with pytest.raises(UserError) as info:
        prepare(data, val_fraction=0.1)
    message = str(info.value)
    assert "--test-fraction" not in message  # mnist1d ships its own test split: the option does nothing there
    assert "validation split of mnist1d would hold no samples" in message
    suggested = float(message.rsplit("--val-fraction ", 1)[1])
    assert suggested > 0.1
    splits = prepare(data, val_fraction=suggested)  # the advice works
    assert len(splits.y_val) > 0 and len(splits.y_train) > 0


def test_a_data_dir_that_is_a_file_is_called_a_file(tmp_path: Path) -> None:
    afile = tmp_path / "MNIST"
    afile.write_text("not a folder")
    with pytest.raises(UserError, match="is a file; pass the folder that holds MNIST/raw/"):
        load("mnist", LoadOptions(data_dir=afile))
    with pytest.raises(UserError, match="does not exist"):
        load("cifar10", LoadOptions(data_dir=tmp_path / "nothing"))


def test_missing_files_tell_every_command_how_to_fetch_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path))  # the folder commands without --data-dir read
    with pytest.raises(UserError) as info:
        load("fashion-mnist", LoadOptions())
    message = str(info.value)
    assert "pass --data-dir DATA_DIR, or add --download" in message
    assert f"fetch them once into {tmp_path / 'datasets'} with `torchprimer data stats fashion-mnist --download`" in (
        message)


def test_predict_refuses_invert_on_arrays_and_values_past_float32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = torchprimer.train(dataset="digits", epochs=1, progress="none", out=tmp_path / "runs")
    sample = tmp_path / "x.npy"
    np.save(sample, np.zeros((8, 8), dtype=np.float32))
    assert "--invert turns an image's dark ink" in fails(["predict", str(result.run_dir), str(sample), "--invert"],
                                                         capsys)
    np.save(sample, np.full((8, 8), 1e308))
    assert "beyond the ±3.4e38 a float32 input can hold" in fails(["predict", str(result.run_dir), str(sample)],
                                                                  capsys)
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(["1e300"] * 64) + "\n")
    assert "rows.csv:1 holds values up to 1e+300" in fails(["predict", str(result.run_dir), str(rows)], capsys)


def test_a_diverged_run_suggests_a_sane_learning_rate(tmp_path: Path) -> None:
    with pytest.raises(torchprimer.errors.TrainingDiverged, match=r"e\.g\. --lr 0\.01\)"):
        torchprimer.train(lr=1e308, epochs=1, progress="none", save=False)


def test_inspecting_constant_data_says_so_instead_of_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "const.npz"
    np.savez(path, x=np.ones((40, 3), dtype=np.float32), y=np.arange(40) % 2)
    main_out = tmp_path / "inspect"
    with pytest.raises(SystemExit) as stopped:
        main(["data", "inspect", f"npz:{path}", "--out", str(main_out)])
    out = capsys.readouterr().out
    assert stopped.value.code == 0
    assert "no variance to explain" in out and "condition number undefined" in out
    assert "nan" not in out and "inf" not in out.split("features")[1]
    assert (main_out / "spectrum.png").stat().st_size > 0


@pytest.mark.parametrize("argv", [
    ["train", "--out", ""], ["data", "inspect", "digits", "--out", ""], ["ui", "--out", "", "--no-browser"],
    ["export", "{run}", "--format", "safetensors", "--out", ""], ["lr-find", "--plot", ""],
    ["activations", "--plot", ""], ["graph", "--out", ""],
])
def test_an_empty_output_path_is_refused_not_taken_as_the_current_folder(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Path('') is '.': `data inspect --out ''` wrote six files into the current folder, over any of
    the same names, and `export --out ''` its model file."""
    run = tmp_path / "run"
    if "{run}" in argv:
        run = torchprimer.train(epochs=1, progress="none", out=tmp_path / "runs").run_dir
    work = tmp_path / "here"
    work.mkdir()
    monkeypatch.chdir(work)
    assert "empty" in fails([a.format(run=run) for a in argv], capsys)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("options", [
    {}, {"model": "cnn", "activation": "tanh"}, {"dataset": "moons", "model": "neuron", "n_samples": 200},
    {"dataset": "mnist1d", "n_samples": 200, "val_fraction": 0.3},
])
def test_a_runs_config_json_passed_back_to_train_reruns_it(options: dict[str, object], tmp_path: Path) -> None:
    """config.json holds every option, defaults included (download=False, momentum=0.9 under Adam,
    image_size=32 for digits): passed back, a default asks for nothing and is not refused. On the CPU,
    where the same config gives the same numbers; on CUDA cuDNN may pick other kernels unless
    `deterministic` (test_gpu.py checks that)."""
    import json

    first = torchprimer.train(epochs=1, progress="none", out=tmp_path, device="cpu", **options)
    stored = json.loads((first.run_dir / "config.json").read_text())["config"]
    again = torchprimer.train(**stored, progress="none", save=False)
    assert again.test == first.test


def test_test_fraction_is_refused_for_an_npz_with_its_own_test_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """An archive with x_test is split like the published sets: --test-fraction would do nothing."""
    from torchprimer.data import synthetic

    own = synthetic.write_npz(tmp_path / "own.npz", n=60, n_test=20)
    plain = synthetic.write_npz(tmp_path / "plain.npz", n=60)
    monkeypatch.chdir(tmp_path)
    assert "--test-fraction does nothing for npz:" in fails(["train", "--dataset", f"npz:{own}",
                                                             "--test-fraction", "0.2"], capsys)
    assert "--test-fraction does nothing" in fails(["compare", "--dataset", f"npz:{own}", "--test-fraction", "0.2",
                                                    "--methods", "nearest-mean", "--no-plot"], capsys)
    result = torchprimer.train(dataset=f"npz:{plain}", test_fraction=0.2, epochs=1, progress="none", save=False)
    assert result.test_samples == 12  # a plain archive is split by the fraction


def test_a_model_too_big_for_memory_names_only_the_commands_own_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """train's refusal ended "or a smaller --width or --depth for activations --train", options train has not;
    each command now names its own: --hidden for train, --width or --depth for activations --train."""
    monkeypatch.setattr("torchprimer.models.physical_memory", lambda: 1000)
    err = fails(["train", "--hidden", "64", "--epochs", "1", "--out", str(tmp_path / "runs")], capsys)
    assert err.rstrip().endswith("; use fewer or smaller hidden layers (e.g. --hidden 128)"), err
    assert "--width" not in err and "--depth" not in err and not (tmp_path / "runs").exists()
    err = fails(["activations", "--train", "--epochs", "1", "--out", str(tmp_path / "act")], capsys)
    assert err.rstrip().endswith("; use a smaller --width or --depth"), err
    assert "--hidden" not in err


def test_save_false_with_a_folder_or_tensorboard_is_refused(tmp_path: Path) -> None:
    """Both write into the run folder that save=False leaves out: they were ignored without a word."""
    with pytest.raises(UserError, match="save=False writes no run folder, so out= would do nothing"):
        torchprimer.train(save=False, out=tmp_path / "runs", epochs=1, progress="none")
    with pytest.raises(UserError, match="so tensorboard= would do nothing"):
        torchprimer.train(save=False, tensorboard=True, epochs=1, progress="none")
    assert list(tmp_path.iterdir()) == []


def test_onecycle_has_the_shape_its_comment_states() -> None:
    """Linear from 1/25 to 1 over the warm-up, then half a cosine towards 1e-4, reached one step
    after the last (each step takes the rate at its start, as --schedule cosine does)."""
    import math

    from torchprimer.training.schedules import lr_factor

    total, warm = 100, 30
    assert lr_factor("onecycle", 0, total) == pytest.approx(1 / 25)
    assert lr_factor("onecycle", 15, total) == pytest.approx(1 / 25 + (1 - 1 / 25) * 15 / 30)
    assert lr_factor("onecycle", warm, total) == pytest.approx(1.0)
    for step in (warm, 50, 99, 100):
        cosine = 0.5 * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
        assert lr_factor("onecycle", step, total) == pytest.approx(1e-4 + (1 - 1e-4) * cosine)
    assert lr_factor("onecycle", total, total) == pytest.approx(1e-4)
