"""torchprimer: the fundamentals of deep learning on PyTorch, as tested software.

The Python API mirrors the command line::

    import torchprimer
    result = torchprimer.train(dataset="digits", epochs=10)
    result.test["accuracy"], result.run_dir

`train` is imported on first use, so `torchprimer --help` does not pay for importing torch.
"""

from typing import TYPE_CHECKING, Any

from torchprimer.errors import TrainingDiverged, UserError

if TYPE_CHECKING:
    from torchprimer.training.run import TrainResult, train

__all__ = ["TrainResult", "TrainingDiverged", "UserError", "train"]
__version__ = "0.1.0"


# Subpackages the README's snippets reach through `torchprimer.` (torchprimer.data.normalize): loaded on
# first use like `train`, so that they work before anything else has imported them.
SUBMODULES = ("data", "autodiff", "models", "runfolder", "evaluate", "predict", "export")


def __dir__() -> list[str]:
    """`train`, `TrainResult` and the SUBMODULES load lazily; list them for dir() and tab completion anyway."""
    return sorted(set(globals()) | set(__all__) | set(SUBMODULES))


def __getattr__(name: str) -> Any:
    if name in ("train", "TrainResult"):
        from torchprimer.training import run

        return getattr(run, name)
    if name in SUBMODULES:
        import importlib

        return importlib.import_module(f"torchprimer.{name}")
    raise AttributeError(f"module 'torchprimer' has no attribute {name!r}")
