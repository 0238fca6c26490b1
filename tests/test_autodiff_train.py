"""`train --backward manual`: training with the hand-written chain rule equals training with autograd."""

from __future__ import annotations

import pytest
import torch

from torchprimer.autodiff.check import one_cpu_thread
from torchprimer.errors import UserError
from torchprimer.training.run import train


def test_ten_epochs_manual_and_autograd_end_with_the_same_weights() -> None:
    with one_cpu_thread():  # tiny layers: one thread is far faster on a busy 2-core machine
        auto = train(save=False, progress="none", epochs=10, seed=3)
        manual = train(save=False, progress="none", epochs=10, seed=3, backward="manual")
    assert manual.config.backward == "manual" and auto.config.backward == "autograd"
    a, m = auto.model.state_dict(), manual.model.state_dict()
    assert a.keys() == m.keys()
    for key in a:
        assert a[key].dtype == torch.float32
        torch.testing.assert_close(m[key], a[key], rtol=0, atol=1e-6)
    assert [r["train_loss"] for r in manual.history] == pytest.approx([r["train_loss"] for r in auto.history],
                                                                      rel=1e-5)


@pytest.mark.parametrize(("options", "message"), [
    ({"backward": "symbolic"}, "autograd, manual"),
    ({"backward": "manual", "model": "cnn"}, "--backward manual"),
    ({"backward": "manual", "dropout": 0.2}, "--dropout"),
])
def test_bad_backward_options_are_refused_before_training(options: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        train(save=False, progress="none", epochs=1, **options)
