"""torchprimer: the fundamentals of deep learning on PyTorch, as tested software.

The Python API mirrors the command line::

    import torchprimer
    result = torchprimer.train(dataset="digits", epochs=10)
    result.test["accuracy"], result.run_dir
"""

from torchprimer.errors import UserError
from torchprimer.training.run import TrainResult, train

__all__ = ["TrainResult", "UserError", "train"]
__version__ = "0.1.0"
