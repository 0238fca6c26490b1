"""torchprimer.train as a library: it checks what Python hands it, and gives the caller's state back."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import torchprimer
from torchprimer.autodiff.check import gradcheck
from torchprimer.errors import UserError

QUICK: dict[str, Any] = {"dataset": "moons", "n_samples": 200, "epochs": 1, "hidden": (8,), "progress": "none"}


def test_a_search_loop_is_not_reseeded_by_each_trial() -> None:
    """train() seeds the global generators for its run; a caller drawing hyperparameters from them
    used to draw the same values after every trial."""
    random.seed(2024)
    np.random.seed(7)
    torch.manual_seed(11)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(2024)
    np.random.seed(7)
    torch.manual_seed(11)
    torchprimer.train(save=False, **QUICK)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_the_callers_torch_settings_survive_a_run() -> None:
    threads = torch.get_num_threads()
    benchmark = torch.backends.cudnn.benchmark
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    try:
        torchprimer.train(save=False, deterministic=True, threads=1, **QUICK)
        assert not torch.are_deterministic_algorithms_enabled()
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        assert torch.backends.cudnn.benchmark == benchmark and torch.get_num_threads() == threads
        torch.use_deterministic_algorithms(True, warn_only=True)  # the user's own choice
        torchprimer.train(save=False, **QUICK)
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_runs_are_still_reproducible_and_the_model_comes_back_ready_for_inference() -> None:
    first, second = (torchprimer.train(save=False, dropout=0.5, **QUICK) for _ in range(2))
    assert first.test == second.test
    assert not first.model.training  # dropout off: the same input gives the same output
    x = torchprimer.data.normalize(torch.tensor([[0.5, 0.25]]).to(first.device), first.data.mean, first.data.std)
    assert torch.equal(first.model(x), first.model(x))


@pytest.mark.parametrize(("options", "message"), [
    ({"batchnorm": "no"}, "option 'batchnorm' is 'no', not true or false"),
    ({"epochs": 1.5}, "option 'epochs' is 1.5, not a whole number"),
    ({"batch_size": 64.0}, "option 'batch_size' is 64.0, not a whole number"),
    ({"lr": "0.01"}, "option 'lr' is '0.01', not a number"),
    ({"seed": "1"}, "option 'seed' is '1', not a whole number"),
    ({"dataset": 5}, "option 'dataset' is 5, not a string"),
    ({"hidden": [3.7]}, "must be whole numbers of units"),
    # a set's order is not the layers' ((256, 4, 128) was trained), bytes were character codes (49, 54)
    ({"hidden": {256, 128, 4}}, "must be whole numbers of units, as a number, a list or tuple, or a string"),
    ({"hidden": b"16"}, "must be whole numbers of units, as a number, a list or tuple, or a string"),
    ({"hidden": iter([8, 4])}, "must be whole numbers of units, as a number, a list or tuple, or a string"),
    # progress=True was an AttributeError after the run folder was made
    ({"progress": True}, "progress=True is neither a mode ('auto', 'bar', 'lines', 'none') nor an object"),
    ({"hidden": [0]}, "every layer needs at least 1 unit"),
    ({"hidden": []}, "every layer needs at least 1 unit"),
    ({"progress": "quiet"}, "progress='quiet' is not one of auto, bar, lines, none"),
    ({"threads": "2"}, "--threads '2' must be a whole number"),
    # train()'s own arguments: out=3 was a TypeError traceback from pathlib, save="no" meant True
    ({"out": 3}, "option 'out' is 3, not a folder path (a string or pathlib.Path)"),
    ({"resume": 3}, "option 'resume' is 3, not a folder path"),
    ({"save": "no"}, "option 'save' is 'no', not true or false"),
    ({"tensorboard": 1}, "option 'tensorboard' is 1, not true or false"),
    ({"out": "o\x00x"}, "which holds a NUL character that no path may hold"),
])
def test_a_value_of_the_wrong_type_is_one_clear_error_before_any_file(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        torchprimer.train(**{**QUICK, "out": tmp_path, **options})
    assert list(tmp_path.iterdir()) == []


def test_friendly_forms_are_accepted(tmp_path: Path) -> None:
    result = torchprimer.train(**{**QUICK, "hidden": 8, "device": torch.device("cpu"), "progress": None,
                                  "out": tmp_path})
    assert result.config.hidden == (8,) and result.config.device == "cpu"


def test_numpy_and_tensor_scalars_are_the_numbers_they_hold(tmp_path: Path) -> None:
    """A search drawing its values with NumPy: np.float32(0.01) was refused as "not a number" (np.float64, a
    float subclass, passed), np.int64 as "not a whole number"."""
    result = torchprimer.train(**{**QUICK, "lr": np.float32(0.5), "epochs": np.int64(2), "seed": torch.tensor(3),
                                  "hidden": np.array([8, 4]), "batchnorm": np.bool_(False), "save": False})
    plain = torchprimer.train(**{**QUICK, "lr": float(np.float32(0.5)), "epochs": 2, "seed": 3, "hidden": (8, 4),
                                 "save": False})
    assert (result.config.lr, result.config.epochs, result.config.seed, result.config.hidden) == (0.5, 2, 3, (8, 4))
    assert [r["train_loss"] for r in result.history] == [r["train_loss"] for r in plain.history]


def test_a_float64_default_dtype_trains_and_loads_in_float32_and_is_given_back(tmp_path: Path) -> None:
    """torch.set_default_dtype(torch.float64) made the models float64 against float32 data: torch's
    "mat1 and mat2 must have the same dtype" from inside the first step, and a half-made run folder."""
    from torchprimer.evaluate import evaluate_run
    from torchprimer.runfolder import load_run

    plain = torchprimer.train(**{**QUICK, "out": tmp_path / "a"})
    torch.set_default_dtype(torch.float64)
    try:
        result = torchprimer.train(**{**QUICK, "out": tmp_path / "b"})
        assert torch.get_default_dtype() == torch.float64
        run = load_run(result.run_dir)
        assert next(run.model.parameters()).dtype == torch.float32
        assert evaluate_run(run, figures=False)["accuracy"] == plain.test["accuracy"]
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)
    assert result.test == plain.test


def test_loading_a_run_does_not_move_the_callers_random_stream(tmp_path: Path) -> None:
    """The model was built with random initial weights, replaced at once by the run's: the draws cost the
    caller's generator numbers it then did not get."""
    from torchprimer.runfolder import load_run

    run_dir = torchprimer.train(**{**QUICK, "out": tmp_path}).run_dir
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    load_run(run_dir)
    assert torch.equal(torch.rand(3), expected)


def test_figures_leave_the_callers_matplotlib_backend_alone(tmp_path: Path) -> None:
    """train() switched matplotlib to Agg: in a notebook, the inline backend was gone and plt.show() showed
    nothing. The figures are now drawn without pyplot."""
    import subprocess
    import sys

    script = ("import matplotlib, sys; matplotlib.use('svg'); import torchprimer; "
              f"torchprimer.train(dataset='digits', epochs=1, progress='none', out={str(tmp_path)!r}); "
              "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg", "False"]
    (run_dir,) = tmp_path.iterdir()
    assert (run_dir / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert (run_dir / "confusion.png").read_bytes().startswith(b"\x89PNG")


def test_resume_refuses_options_it_would_ignore(tmp_path: Path) -> None:
    run = torchprimer.train(**{**QUICK, "out": tmp_path}).run_dir
    with pytest.raises(UserError, match="in its own folder; leave out --out"):
        torchprimer.train(resume=run, epochs=2, out=tmp_path / "elsewhere", progress="none")
    with pytest.raises(UserError, match="leave out save=False"):
        torchprimer.train(resume=run, epochs=2, save=False, progress="none")
    assert not (tmp_path / "elsewhere").exists()


def test_dir_lists_the_lazy_names() -> None:
    assert {"train", "TrainResult", "UserError", "data", "autodiff"} <= set(dir(torchprimer))


def test_the_readmes_submodules_work_before_anything_imported_them() -> None:
    """`torchprimer.data.normalize` worked in the README only because train() had imported the package."""
    import subprocess
    import sys

    script = ("import torchprimer; print(torchprimer.data.normalize.__name__, "
              "torchprimer.autodiff.gradcheck.__name__, torchprimer.runfolder.load_run.__name__)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.split() == ["normalize", "gradcheck", "load_run"], done.stderr


@pytest.mark.parametrize(("y", "message"), [
    (torch.full((8,), 12), "run from 12 to 12, outside 0..9"),
    (torch.zeros(3, dtype=torch.long), r"have shape \(3,\), not \(8,\)"),
    (torch.zeros(8), "are torch.float32, not whole numbers"),
])
def test_gradcheck_refuses_labels_that_do_not_fit_instead_of_checking_another_loss(
    y: torch.Tensor, message: str
) -> None:
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.Tanh(), torch.nn.Linear(16, 10))
    with pytest.raises(UserError, match=message):
        gradcheck(mlp, torch.randn(8, 1, 8, 8), y)


def test_help_of_train_names_every_option_with_its_default() -> None:
    """`options` is **kwargs, so the signature shows none of them: the docstring lists every
    TrainConfig field with its default, generated from the config itself."""
    import dataclasses

    from torchprimer.training.config import TrainConfig

    doc = " ".join((torchprimer.train.__doc__ or "").split())
    for field in dataclasses.fields(TrainConfig):
        assert f"{field.name}={field.default!r}" in doc, field.name
    assert doc.index("dataset='digits'") < doc.index(">>> result = train(")


@pytest.mark.parametrize(("device", "message"), [
    (torch.device("meta"), "unsupported device 'meta'"),
    (None, "device None is not a device"),
    pytest.param(torch.device("cuda"), "--device cuda was asked for, but torch sees no CUDA device here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")),
    pytest.param(0, "--device cuda was asked for, but torch sees no CUDA device here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")),
])
def test_load_run_checks_a_device_given_as_torch_takes_it(tmp_path: Path, device: object, message: str) -> None:
    """Only a device name was checked: torch.device("cuda") or 0 reached torch's "Found no NVIDIA driver",
    "meta" its NotImplementedError."""
    from torchprimer.runfolder import load_run

    run_dir = torchprimer.train(**{**QUICK, "out": tmp_path}).run_dir
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_run(run_dir, device)  # type: ignore[arg-type]


@pytest.mark.parametrize(("device", "message"), [
    (torch.device("meta"), "unsupported device 'meta'"),
    (2.5, "device 2.5 is not a device"),
    (True, "device True is not a device"),
    pytest.param(0, "--device cuda was asked for, but torch sees no CUDA device here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")),
])
def test_train_takes_a_device_as_load_run_does(tmp_path: Path, device: object, message: str) -> None:
    """train(device=0) was refused as "not a string" while load_run(run, 0) meant cuda:0, as torch does."""
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        torchprimer.train(**{**QUICK, "out": tmp_path, "device": device})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    ((torch.rand(5, 3), torch.zeros(2), torch.ones(2)), "x of shape (5, 3) has 3 channel(s) in dimension 1"),
    ((torch.rand(2), torch.zeros(2), torch.ones(2)), "pass a batch, e.g. x[None] for one sample"),
    ((torch.tensor([[1.0, 2.0]]), torch.zeros(2), torch.tensor([-2.0, 0.5])), "must be finite and not negative"),
    ((torch.rand(4, 2), torch.zeros(1), torch.ones(2)), "but mean has 1 and std 2"),
    (("x", 1, 2), "takes tensors (or NumPy arrays or lists)"),
])
def test_normalize_refuses_what_would_broadcast_or_be_left_unscaled(args: tuple[Any, ...], message: str) -> None:
    """The README's recipe for feeding result.model: a channel mismatch was torch's broadcasting error, a
    negative std was replaced by 1 (the channel only centred), a mean of 1 value broadcast over 2 channels."""
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        torchprimer.data.normalize(*args)


def test_normalize_takes_numpy_and_lists_as_tensors() -> None:
    x = np.array([[1.0, 4.0], [3.0, 0.0]], dtype=np.float32)
    expected = torchprimer.data.normalize(torch.from_numpy(x), torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]))
    assert torch.equal(torchprimer.data.normalize(x, [1.0, 2.0], [2.0, 4.0]), expected)
    assert torch.equal(expected, torch.tensor([[0.0, 0.5], [1.0, -0.5]]))


@pytest.mark.parametrize(("change", "message"), [
    ({"model": None}, "gradcheck's model is NoneType, not a torch.nn.Module"),
    ({"eps": 0}, "gradcheck's eps 0 must be a finite number above 0"),
    ({"eps": float("nan")}, "gradcheck's eps nan must be a finite number above 0"),
    ({"max_coords": 0}, "gradcheck's max_coords 0 must be a whole number of at least 1"),
    ({"seed": "a"}, "gradcheck's seed 'a' must be a whole number of at least 0, e.g. 0"),
    ({"x": torch.zeros(0, 4), "y": torch.zeros(0, dtype=torch.long)}, "holds no samples"),
    ({"x": torch.full((6, 4), float("nan"))}, "gradcheck's x holds NaN or infinite values"),
])
def test_gradcheck_names_the_argument_that_is_wrong(change: dict[str, Any], message: str) -> None:
    """From Python, eps=0 was a ZeroDivisionError, max_coords=0 an 'ok' after checking nothing, a NaN in x a
    report of wrong gradients, None for the model an AttributeError."""
    from torch import nn

    call = {"model": nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)),
            "x": torch.randn(6, 4), "y": torch.arange(6) % 3, **change}
    model, x, y = call.pop("model"), call.pop("x"), call.pop("y")
    with pytest.raises(UserError, match=message):
        gradcheck(model, x, y, **call)


def test_gradcheck_takes_numpy_lists_and_any_integer_labels() -> None:
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(6, 4), torch.arange(6) % 3
    expected = gradcheck(net, x, y)
    for x_as, y_as in ((x.numpy(), y), (x, y.tolist()), (x, y.to(torch.int8)), (x.tolist(), y.numpy())):
        assert gradcheck(net, x_as, y_as) == expected


def test_evaluate_and_predict_check_their_arguments(tmp_path: Path) -> None:
    """A run loaded without its test split was an AssertionError (gone under python -O), top=-1 sliced from
    the end, a file name as a str an AttributeError; an empty export name wrote into the current folder."""
    from torchprimer.evaluate import evaluate_run
    from torchprimer.export import export_run
    from torchprimer.predict import predict_files
    from torchprimer.runfolder import load_run

    result = torchprimer.train(**{**QUICK, "out": tmp_path / "runs"})
    with pytest.raises(UserError, match="evaluate_run takes a run loaded with its test split"):
        evaluate_run(load_run(result.run_dir, with_data=False))
    run = load_run(result.run_dir)
    with pytest.raises(UserError, match=r"evaluate_run's top -1 must be a whole number of at least 0, e\.g\. 16"):
        evaluate_run(run, top=-1, figures=False)
    sample = tmp_path / "x.npy"
    np.save(sample, np.zeros((1, 2), np.float32))
    with pytest.raises(UserError, match="predict_files' top 0 must be a whole number of at least 1"):
        predict_files(run, [sample], top=0)
    by_name = predict_files(run, str(sample))
    assert by_name == predict_files(run, [sample])
    assert len(by_name["predictions"]) == 1
    with pytest.raises(UserError, match="out is empty"):
        export_run(run, "safetensors", "")


def test_out_naming_a_run_folder_is_refused_rather_than_nesting_a_run_inside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """`--out runs/2026...-digits-mlp` (the run folder, where the folder of runs was meant) made a second run
    folder inside the first."""
    from conftest import fails

    run_dir = torchprimer.train(**{**QUICK, "out": tmp_path}).run_dir
    before = sorted(p.name for p in run_dir.iterdir())
    err = fails(["train", "--dataset", "moons", "--epochs", "1", "--out", str(run_dir)], capsys)
    assert f"--out {run_dir} is a run folder (it holds config.json and checkpoint.pt)" in err
    assert f"e.g. --out {tmp_path}, or go on with this one: 'torchprimer train --resume {run_dir}'" in err
    assert sorted(p.name for p in run_dir.iterdir()) == before
