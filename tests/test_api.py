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
    ({"hidden": [0]}, "every layer needs at least 1 unit"),
    ({"hidden": []}, "every layer needs at least 1 unit"),
    ({"progress": "quiet"}, "progress='quiet' is not one of auto, bar, lines, none"),
    ({"threads": "2"}, "--threads '2' must be a whole number"),
    # train()'s own arguments: out=3 was a TypeError traceback from pathlib, save="no" meant True
    ({"out": 3}, "option 'out' is 3, not a folder path (a string or pathlib.Path)"),
    ({"resume": 3}, "option 'resume' is 3, not a folder path"),
    ({"save": "no"}, "option 'save' is 'no', not true or false"),
    ({"tensorboard": 1}, "option 'tensorboard' is 1, not true or false"),
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


def test_resume_refuses_options_it_would_ignore(tmp_path: Path) -> None:
    run = torchprimer.train(**{**QUICK, "out": tmp_path}).run_dir
    with pytest.raises(UserError, match="in its own folder; leave out --out"):
        torchprimer.train(resume=run, epochs=2, out=tmp_path / "elsewhere", progress="none")
    with pytest.raises(UserError, match="leave out save=False"):
        torchprimer.train(resume=run, epochs=2, save=False, progress="none")
    assert not (tmp_path / "elsewhere").exists()


def test_dir_lists_the_lazy_names() -> None:
    assert {"train", "TrainResult", "UserError"} <= set(dir(torchprimer))


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
