"""`activations --train`: the same deep MLP per activation shows sigmoid's vanishing gradients."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from torchprimer.activations import compare_training, findings, plot_gradient_heatmap, render_training
from torchprimer.errors import UserError


def test_sigmoid_early_layers_get_orders_of_magnitude_smaller_gradients(tmp_path: Path) -> None:
    # smaller than the defaults (8 x 64, 20 epochs) to stay quick; deep enough for the effect
    result = compare_training("sigmoid,relu", depth=6, width=32, epochs=2, out=tmp_path)
    runs = {r["activation"]: r for r in result["runs"]}
    sigmoid, relu = runs["sigmoid"], runs["relu"]
    assert len(sigmoid["grad_norm_at_init"]) == 7 and len(sigmoid["grad_norms"]) == 3  # init + 2 epochs
    gap = relu["grad_norm_at_init"][0] / sigmoid["grad_norm_at_init"][0]
    assert gap >= 100, gap
    # and it is the early layers that starve: sigmoid's gradient shrinks layer by layer toward the input
    assert sigmoid["grad_norm_at_init"][-1] / sigmoid["grad_norm_at_init"][0] >= 1000
    assert relu["grad_norm_during_training"][0] / sigmoid["grad_norm_during_training"][0] >= 10
    text = render_training(result)
    assert "Vanishing gradients: sigmoid's first layer" in text and "orders of magnitude" in text
    assert 0 <= relu["dead_units_at_init"] <= 1 and sigmoid["dead_units_at_end"] == 0
    # the default optimiser (Adam) really trains: relu's validation loss falls, above chance
    assert relu["history"][-1]["val_loss"] < relu["history"][0]["val_loss"]
    assert relu["test_accuracy"] > 0.15  # chance is 0.10; two short epochs of this deep net
    for name in ("loss-curves.png", "gradient-norms.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "activations-train.json").is_file()


def test_same_seed_gives_the_same_initial_weights_for_every_activation() -> None:
    # gradients at init differ only through the activation: with identical weights, leaky_relu's
    # last-layer gradient is close to relu's (they differ only for negative inputs)
    result = compare_training("relu,leaky_relu", depth=2, width=8, epochs=1)
    relu, leaky = (r["grad_norm_at_init"] for r in result["runs"])
    assert abs(relu[-1] - leaky[-1]) / relu[-1] < 0.1


def test_a_diverged_run_is_written_as_strict_json(tmp_path: Path) -> None:
    """lr 1e308 makes every loss NaN; activations-train.json once held NaN literals, which JSON.parse rejects."""
    import json
    import math

    def strict(constant: str) -> float:
        raise AssertionError(f"{constant} is not JSON")

    result = compare_training("relu", depth=1, width=4, epochs=1, lr=1e308, out=tmp_path)
    assert math.isnan(result["runs"][0]["test_loss"])
    written = json.loads((tmp_path / "activations-train.json").read_text(), parse_constant=strict)
    assert written["runs"][0]["test_loss"] is None and written["runs"][0]["history"][0]["train_loss"] is None
    assert written["settings"]["lr"] == 1e308


@pytest.mark.parametrize(("sigmoid_acc", "relu_acc", "says"), [
    (0.194, 0.956, "its early layers barely learn (test accuracy 0.194 vs 0.956)"),
    (0.100, 0.100, "relu learned nothing either (test accuracy 0.100 vs 0.100, chance 0.100)"),
    (0.940, 0.956, "the other layers made up for it (test accuracy 0.940 vs 0.956)"),
])
def test_the_vanishing_gradient_sentence_cites_the_accuracies_only_for_what_they_show(
    sigmoid_acc: float, relu_acc: float, says: str,
) -> None:
    """`--depth 12 --epochs 1` left relu at chance too: 'barely learn (0.100 vs 0.100)' proved nothing."""
    def run(name: str, first: float, accuracy: float) -> dict:
        return {"activation": name, "grad_norm_at_init": [first], "grad_norm_during_training": [first],
                "test_accuracy": accuracy, "chance_accuracy": 0.1, "dead_units_at_init": 0, "dead_units_at_end": 0}

    lines = findings([run("sigmoid", 1e-7, sigmoid_acc), run("relu", 1e-3, relu_acc)])
    assert lines[0].startswith("Vanishing gradients: sigmoid's first layer") and says in lines[0]


def test_the_vanishing_sentence_gives_a_cause_only_where_the_derivative_explains_it() -> None:
    """`--names tanh,gelu` said "gelu's derivative is at most 1.129, so each of its layers shrinks the
    gradient": a bound above 1 explains no shrinking. And a gradient that all but vanished in training
    printed "537,080,685,891,326,039,818,240x smaller" (`--lr 10`): next to none, said in words."""
    def run(name: str, first: float, during: float) -> dict:
        return {"activation": name, "grad_norm_at_init": [first], "grad_norm_during_training": [during],
                "test_accuracy": 0.5, "chance_accuracy": 0.1, "dead_units_at_init": 0, "dead_units_at_end": 0}

    for lang in ("en", "zh"):
        gelu = findings([run("gelu", 1e-6, 1e-30), run("tanh", 1e-3, 1e-3)], lang)[0]
        assert "1.129" not in gelu and "537" not in gelu and "e+" not in gelu
        assert ("next to none during training" if lang == "en" else "训练期间几乎为零") in gelu
        sigmoid = findings([run("sigmoid", 1e-6, 1e-5), run("tanh", 1e-3, 1e-3)], lang)[0]
        assert "0.25" in sigmoid and ("100x smaller on average" in sigmoid if lang == "en" else "1/100" in sigmoid)


def test_a_diverged_run_is_named_as_such_not_compared(tmp_path: Path) -> None:
    """`--lr 100` made relu's gradients overflow: the findings read "infx smaller on average during
    training" and advised more epochs, the loss column printed 311639932705300001467662336.0000, and
    the heat map's colour scale became NaN (a RuntimeWarning from matplotlib on stderr)."""
    import warnings

    def run(name: str, first: float, during: float, diverged_at: int | None, loss: float) -> dict:
        return {"activation": name, "grad_norm_at_init": [first], "grad_norm_during_training": [during],
                "test_accuracy": 0.1, "chance_accuracy": 0.1, "dead_units_at_init": 0, "dead_units_at_end": 0,
                "diverged_at": diverged_at, "history": [{"epoch": 1, "train_loss": loss}], "seconds": 0.1}

    runs = [run("sigmoid", 1e-7, 1e-8, None, 2.3), run("relu", 1e-3, math.inf, 1, 3.1e26)]
    said = findings(runs)
    assert "inf" not in said[0] and "train longer" not in said[0] and "during training" not in said[0]
    assert said[1].startswith("relu diverged: its training loss or weight gradients overflowed in epoch 1")
    table = render_training({"settings": {"dataset": "digits", "hidden": [4], "optimizer": "adam", "lr": 100.0,
                                          "epochs": 1, "batch_size": 64, "seed": 0, "init": "torch"},
                             "runs": runs, "findings": said}).splitlines()
    assert " 3.100e+26 " in table[-4] and len(table[-4]) == len(table[-5])  # the loss column keeps its width
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compare_training("relu", depth=1, width=4, epochs=1, lr=1e308, out=tmp_path)
        plot_gradient_heatmap([{"activation": "relu", "grad_norms": [[1e-3, 1e-2], [math.inf, math.inf]]},
                               {"activation": "tanh", "grad_norms": [[1e-3, 1e-2], [1e-3, 1e-2]]}],
                              tmp_path / "overflowed.png")
    assert result["runs"][0]["diverged_at"] == 1 and (tmp_path / "overflowed.png").is_file()


def test_a_finite_run_no_better_than_guessing_is_named_with_the_figures_of_the_data() -> None:
    """`--lr 100` left sigmoid at chance with a test loss of 1037, finite, so not diverged, and no finding said so."""
    from collections import Counter

    from torchprimer.training.config import make_config, resolve_device
    from torchprimer.training.run import load_splits

    result = compare_training("sigmoid", depth=1, width=4, epochs=1, lr=100)
    run = result["runs"][0]
    cfg = make_config(dataset="digits", model="mlp", hidden=(4,), epochs=1, lr=100)
    splits = load_splits(cfg, resolve_device("cpu"))
    train, test = Counter(splits.y_train.tolist()), Counter(splits.y_test.tolist())
    guess = -sum(n / len(splits.y_test) * math.log(train[c] / len(splits.y_train)) for c, n in test.items())
    assert run["guess_loss"] == pytest.approx(guess, rel=1e-12) and 2.2 < guess < 2.4  # about ln(10)
    assert run["diverged_at"] is None and math.isfinite(run["test_loss"]) and run["test_loss"] >= 2 * guess
    said = [line for line in result["findings"] if line.startswith("sigmoid did no better than guessing")]
    assert said == [f"sigmoid did no better than guessing: its test accuracy {run['test_accuracy']:.3f} is at chance "
                    f"({run['chance_accuracy']:.3f}) and its test loss {run['test_loss']:.4f} is not below the "
                    f"{guess:.4f} of always predicting the training split's class shares; a loss "
                    f"{run['test_loss'] / guess:,.0f}x a guess's means its steps overshoot: lower --lr (e.g. 0.001) "
                    "to compare it."]


def _scored(name: str, accuracy: float, test_loss: float, train_loss: float, diverged_at: int | None = None, *,
            earlier: tuple[float, ...] = (), initial_loss: float | None = None, lr: float = 0.001,
            dead: tuple[float, float] = (0, 0)) -> dict:
    """A run's figures; `earlier`: the training losses of the epochs before the last."""
    losses = [*earlier, train_loss]
    run = {"activation": name, "grad_norm_at_init": [1e-3], "grad_norm_during_training": [1e-3],
           "test_accuracy": accuracy, "chance_accuracy": 0.106, "test_loss": test_loss, "guess_loss": 2.3026,
           "history": [{"epoch": i + 1, "train_loss": loss} for i, loss in enumerate(losses)],
           "diverged_at": diverged_at, "dead_units_at_init": dead[0], "dead_units_at_end": dead[1], "lr": lr}
    return run if initial_loss is None else {**run, "initial_loss": initial_loss}


@pytest.mark.parametrize(("run", "says"), [
    (_scored("sigmoid", 0.100, 1037.07, 1454.1), "sigmoid did no better than guessing: its test accuracy 0.100 is at "
     "chance (0.106) and its test loss 1037.0700 is not below the 2.3026 of always predicting the training split's "
     "class shares; a loss 450x a guess's means its steps overshoot: lower --lr (e.g. 0.001) to compare it."),
    (_scored("tanh", 0.217, 1750.96, 1457.3), "tanh learned little: its test accuracy is 0.217 (chance 0.106), yet its "
     "test loss 1750.9600 and last training loss 1457.3000 are not below the 2.3026 of always predicting the training "
     "split's class shares; a loss 760x a guess's means its steps overshoot: lower --lr (e.g. 0.001) to compare it."),
    # sigmoid's plateau in its first epochs at the default lr: stuck at guessing, not overshooting
    (_scored("sigmoid", 0.100, 2.3030, 2.3071), "sigmoid did no better than guessing: its test accuracy 0.100 is at "
     "chance (0.106) and its test loss 2.3030 is not below the 2.3026 of always predicting the training split's class "
     "shares; train longer (--epochs) to see whether it learns."),
    # the same plateau as a real run records it: the loss falls from the untrained network's toward the guess's
    (_scored("sigmoid", 0.100, 2.3032, 2.3070, earlier=(2.3164,), initial_loss=2.3346),
     "sigmoid did no better than guessing: its test accuracy 0.100 is at chance (0.106) and its test loss 2.3032 is "
     "not below the 2.3026 of always predicting the training split's class shares; train longer (--epochs) to see "
     "whether it learns."),
    # `--names relu --lr 3`: the training loss shot up, then hovered above the guess's, and most units died; "train
    # longer" was the advice, though the network had not learned even the training data
    (_scored("relu", 0.100, 2.4548, 2.4340, earlier=(2.817e13, 5.4112, 2.6861), initial_loss=2.3050, lr=3,
             dead=(0.264, 0.902)),
     "relu did no better than guessing: its test accuracy 0.100 is at chance (0.106) and its test loss 2.4548 is not "
     "below the 2.3026 of always predicting the training split's class shares; its last training loss 2.4340 is not "
     "below that guess either and on the way it shot up to 2.817e+13 (epoch 1), so it did not even learn the training "
     "data: its steps are too large; lower --lr (e.g. 0.3, a tenth of 3); 90.2% of its hidden units also ended dead "
     "(from 26.4% at initialisation): large steps push units where they get no gradient."),
    # `--optimizer sgd --lr 3`: no spike, yet the training loss ended above where it started; few units died
    (_scored("relu", 0.094, 2.4402, 2.4604, earlier=(2.377, 2.419), initial_loss=2.3050, lr=3, dead=(0.264, 0.49)),
     "relu did no better than guessing: its test accuracy 0.094 is at chance (0.106) and its test loss 2.4402 is not "
     "below the 2.3026 of always predicting the training split's class shares; its last training loss 2.4604 is not "
     "below that guess either and is above the 2.3050 it started from, so it did not even learn the training data: its "
     "steps are too large; lower --lr (e.g. 0.3, a tenth of 3)."),
    # learning the training data, not yet the test split: only here is "train longer" the advice for a learner
    (_scored("tanh", 0.110, 2.3500, 2.1000, earlier=(2.2500,), initial_loss=2.3063),
     "tanh did no better than guessing: its test accuracy 0.110 is at chance (0.106) and its test loss 2.3500 is not "
     "below the 2.3026 of always predicting the training split's class shares; its last training loss 2.1000 is below "
     "that guess, so it is learning the training data: train longer (--epochs) to see whether the test split follows."),
    (_scored("sigmoid", 0.200, 1.7537, 1.7515), None),  # slow but learning: 20 epochs at the default lr
    (_scored("sigmoid", 0.100, 2.25, 2.27), None),  # at chance, but its loss fell below the guess's: it is learning
    (_scored("relu", 0.900, 5.0, 0.01), None),  # confidently wrong on test only: overfitting, not overshooting
    (_scored("relu", 0.100, math.nan, math.nan, diverged_at=1), None),  # named as diverged instead
], ids=["overshoot-at-chance", "overshoot-above-chance", "stuck", "plateau", "too-large-shot-up", "too-large-rose",
        "learning-train-only", "slow", "learning-at-chance", "overfit", "diverged"])
def test_only_a_run_no_better_than_guessing_is_said_to_be(run: dict, says: str | None) -> None:
    said = [line for line in findings([run]) if "guess" in line]
    assert said == ([says] if says else [])
    zh = [line for line in findings([run], "zh") if "猜测的" in line or "占比预测的" in line]
    assert len(zh) == len(said) and all("--lr" in z for z in zh) == all("--lr" in s for s in said)


def test_a_learning_rate_too_large_to_learn_the_training_data_is_named_not_train_longer() -> None:
    """`activations --train --names relu --lr 3` advised "train longer (--epochs) to see whether it learns", though its
    training loss had shot up and ended above the guess's, with 90% of its units dead: more epochs of steps that large
    learn nothing. The advice follows the measured training loss; a plateau at the default lr keeps "train longer"."""
    result = compare_training("relu", depth=4, width=32, epochs=3, lr=3)
    run = result["runs"][0]
    train, guess = run["history"][-1]["train_loss"], run["guess_loss"]
    assert run["diverged_at"] is None and run["lr"] == 3 and train >= guess and run["test_loss"] < 2 * guess
    assert max(h["train_loss"] for h in run["history"]) >= 2 * max(guess, run["initial_loss"])
    said = [line for line in result["findings"] if line.startswith("relu did no better than guessing")]
    assert len(said) == 1 and "train longer" not in said[0], result["findings"]
    assert f"its last training loss {train:.4f} is not below that guess either" in said[0]
    assert "its steps are too large; lower --lr (e.g. 0.3, a tenth of 3)" in said[0]
    assert f"{run['dead_units_at_end']:.1%} of its hidden units also ended dead" in said[0]
    zh = [line for line in findings(result["runs"], "zh") if line.startswith("relu 的表现不比瞎猜好")]
    assert len(zh) == 1 and "步长太大；调低 --lr（例如 0.3，即 3 的十分之一）" in zh[0] and "训练更久" not in zh[0]
    # sigmoid's plateau in its first epochs at the default lr: its loss falls toward the guess's, more epochs help
    plateau = compare_training("sigmoid", depth=8, width=64, epochs=2)
    stuck = plateau["runs"][0]
    assert guess <= stuck["history"][-1]["train_loss"] < stuck["initial_loss"]
    assert next(line for line in plateau["findings"] if "guess" in line).endswith(
        "; train longer (--epochs) to see whether it learns.")


def test_the_vanishing_sentence_does_not_advise_more_epochs_for_a_reference_whose_steps_are_too_large() -> None:
    """`--names sigmoid,relu --lr 3`: relu learned nothing either, and "train longer (--epochs) to see what it costs"
    was the advice, beside relu's own sentence saying its steps are too large."""
    sigmoid = {**_scored("sigmoid", 0.100, 43.7, 40.0, lr=3), "grad_norm_at_init": [1e-7]}
    relu = _scored("relu", 0.106, 2.4523, 2.4083, earlier=(2.817e13,), initial_loss=2.3050, lr=3, dead=(0.264, 0.902))
    for lang, advice, not_advice in (("en", "(below): lower --lr to see what it costs", "train longer"),
                                     ("zh", "它的步长太大（见下文）：要看出它的代价，请调低 --lr", "训练更久")):
        vanishing = findings([sigmoid, relu], lang)[0]
        assert advice in vanishing and not_advice not in vanishing, vanishing
    plateau = _scored("relu", 0.106, 2.3030, 2.3040, initial_loss=2.3050)  # stuck at guessing: more epochs it is
    assert "train longer (--epochs) to see what it costs" in findings([sigmoid, plateau])[0]


def test_the_header_counts_one_epoch_and_one_layer_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`activations --train --epochs 1` printed "1 epochs" in its header."""
    from torchprimer.cli import main

    with pytest.raises(SystemExit) as done:
        main(["activations", "--train", "--names", "relu", "--depth", "1", "--width", "4", "--epochs", "1",
              "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert done.value.code in (0, None), err
    assert out.splitlines()[0] == ("digits: MLP with 1 hidden layer of 4, adam lr 0.001, 1 epoch, batch 64, seed 0, "
                                   "init torch")
    settings = {"dataset": "digits", "hidden": [4, 4], "optimizer": "adam", "lr": 0.001, "epochs": 2,
                "batch_size": 64, "seed": 0, "init": "torch"}
    runs = [{"activation": "relu", "grad_norm_at_init": [1e-3, 1e-2, 1e-1], "test_accuracy": 0.5,
             "dead_units_at_end": 0.0, "seconds": 0.1, "history": [{"epoch": 2, "train_loss": 1.0}]}]
    header = render_training({"settings": settings, "runs": runs, "findings": []}).splitlines()[0]
    assert "MLP with 2 hidden layers of 4" in header and ", 2 epochs, " in header


# --- the report in Chinese: `activations --train --lang zh`, or LANG=zh_CN, as for the table and the tour ---

ZH_ENV = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
# every number as printed: 1,262  0.094  17.7%  1.03e-05
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]\d+)?%?")
# what Chinese text keeps in Latin letters: the data set, model, optimiser, init scheme and activation names
KEPT = {"digits", "MLP", "adam", "torch", "sigmoid", "tanh", "relu", "leaky_relu", "gelu"}
SETTINGS = {"dataset": "digits", "hidden": [4, 4], "optimizer": "adam", "lr": 0.001, "epochs": 2, "batch_size": 64,
            "seed": 0, "init": "torch"}


def _english_words(text: str, files: list[str] = ()) -> set[str]:
    """Words in Latin letters that Chinese text should not hold; option names (--lr, --epochs) and files stay."""
    for f in files:
        text = text.replace(f, "")
    return set(re.findall(r"[A-Za-z_]{2,}", re.sub(r"--[a-z-]+", "", text))) - KEPT


def _numbers(text: str) -> list[str]:
    # Chinese says "1/462" for "462x smaller": the same number, and one more 1
    return sorted(NUMBER.findall(text.replace("1/", "")))


@pytest.fixture(scope="module")
def race(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One real race (sigmoid and relu, tiny), rendered by every test below in both languages."""
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCHPRIMER_CACHE", str(base / "cache"))
        return compare_training("sigmoid,relu", depth=6, width=16, epochs=1, out=tmp_path_factory.mktemp("race"))


def _cli(argv: list[str], race: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    """stdout of `torchprimer activations --train ARGV`, with the race above instead of a new one."""
    import copy

    from torchprimer import activations as act
    from torchprimer.cli import main

    monkeypatch.setattr(act, "compare_training", lambda *a, **k: copy.deepcopy(race))
    with pytest.raises(SystemExit) as done:
        main(["activations", "--train", "--names", "sigmoid,relu", *argv])
    out, err = capsys.readouterr()
    assert done.value.code in (0, None), err
    return out


@pytest.mark.parametrize("lang", [["--lang", "zh"], []], ids=["--lang zh", "LANG=zh_CN"])
def test_the_race_speaks_chinese_under_lang_zh_or_a_chinese_locale(
    lang: list[str], race: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`activations --train --lang zh` was refused ("--lang does nothing with --train") and LANG=zh_CN printed
    English, though the table, backprop, gradcheck, graph, compare and the tour all speak Chinese."""
    from test_tour import CJK, _ascii_punctuation_in_chinese

    from torchprimer.report import display_width

    for name, value in ZH_ENV.items():
        monkeypatch.setenv(name, value)
    out = _cli(lang, race, capsys, monkeypatch)
    lines = out.splitlines()
    assert lines[0] == ("digits：MLP，6 个隐藏层，每层 16 个单元；adam，学习率 0.001；1 轮；批大小 64；随机种子 0；"
                        "初始化 torch")
    assert lines[2].split()[:5] == ["激活函数", "测试准确率", "最终损失", "死亡单元", "秒数"]
    assert lines[2].endswith("初始化时各层的梯度范数（第 1 层在输入一侧，共 7 层）")
    # the norms start in the same terminal column in the heading and in every row
    norms_at = {display_width(line[:line.index(f"{r['grad_norm_at_init'][0]:.1e}")])
                for line, r in zip(lines[3:5], race["runs"], strict=True)}
    assert norms_at == {display_width(lines[2][:lines[2].index("初始化时")])}
    assert "梯度消失：初始化时，sigmoid 第一层得到的梯度只有 relu 的 1/" in out and "个数量级" in out
    assert "relu：初始化时有" in out and "的隐藏单元已经“死亡”" in out
    assert lines[-1] == "已写入 " + ", ".join(race["files"])
    assert _english_words(out, race["files"]) == set()
    assert _ascii_punctuation_in_chinese(out.replace(str(Path(race["files"][0]).parent), "")) == []
    en = _cli(["--lang", "en"], race, capsys, monkeypatch)  # --lang en overrides the Chinese locale
    assert not CJK.search(en) and en.startswith("digits: MLP with 6 hidden layers of 16")
    assert "Vanishing gradients: sigmoid's first layer" in en
    assert _numbers(en) == _numbers(out)  # the same figures, every one of them


def test_the_race_json_is_the_same_in_both_languages(
    race: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    for name, value in ZH_ENV.items():
        monkeypatch.setenv(name, value)
    zh, default, en = (_cli([*lang, "--json"], race, capsys, monkeypatch) for lang in (["--lang", "zh"], [],
                                                                                        ["--lang", "en"]))
    assert zh == default == en
    assert json.loads(zh)["findings"][0].startswith("Vanishing gradients: sigmoid's first layer")


def _run(name: str, first: float, accuracy: float, *, dead: float = 0.0, diverged_at: int | None = None,
         during: float | None = None, test_loss: float = 0.5) -> dict:
    return {"activation": name, "grad_norm_at_init": [first, 0.1], "grad_norm_during_training": [during or first],
            "test_accuracy": accuracy, "chance_accuracy": 0.1, "dead_units_at_init": dead,
            "dead_units_at_end": dead / 2, "test_loss": test_loss, "guess_loss": 2.3026,
            "diverged_at": diverged_at, "history": [{"epoch": 2, "train_loss": max(0.5, test_loss)}], "seconds": 0.3}


@pytest.mark.parametrize("runs", [
    # barely learns; tanh larger, leaky_relu within a factor 10, gelu smaller; relu's dead units
    [_run("sigmoid", 1e-7, 0.194), _run("tanh", 2e-2, 0.9), _run("leaky_relu", 1e-3, 0.9),
     _run("gelu", 5e-5, 0.9), _run("relu", 1e-3, 0.956, dead=0.264)],
    [_run("sigmoid", 1e-7, 0.1), _run("relu", 1e-3, 0.1)],  # relu learned nothing either
    [_run("sigmoid", 1e-7, 0.94), _run("relu", 1e-3, 0.956)],  # the other layers made up for it
    [_run("sigmoid", 1e-7, 0.1), _run("relu", 1e-3, 0.1, diverged_at=1, during=math.inf)],  # diverged
    [_run("sigmoid", 1e-7, 0.1), _run("relu", 1e-3, 0.1, dead=0.264, diverged_at=1, during=math.inf)],
    [_run("sigmoid", 1e-7, 0.1, test_loss=1037.07), _run("tanh", 1e-2, 0.217, test_loss=1750.96),
     _run("relu", 1e-3, 0.1, test_loss=2.3030)],  # no better than guessing: overshoot, learned little, stuck
    [_run("sigmoid", 1e-7, 0.1, test_loss=43.7),  # steps too large: relu's and tanh's, and a learner's advice
     {**_run("relu", 1e-3, 0.106, test_loss=2.4523), "initial_loss": 2.3050, "lr": 3, "dead_units_at_end": 0.902,
      "dead_units_at_init": 0.264,
      "history": [{"epoch": 1, "train_loss": 2.817e13}, {"epoch": 2, "train_loss": 2.4083}]},
     {**_run("tanh", 1e-2, 0.1, test_loss=2.5084), "initial_loss": 2.3063, "lr": 0.03,
      "history": [{"epoch": 1, "train_loss": 1.931}, {"epoch": 2, "train_loss": 2.5485}]},
     {**_run("gelu", 1e-3, 0.1, test_loss=2.35), "history": [{"epoch": 2, "train_loss": 2.1}]}],
], ids=["barely", "nothing", "made-up", "diverged", "diverged-dead", "guessing", "too-large"])
def test_every_finding_has_its_chinese_sentence(runs: list[dict]) -> None:
    """Each sentence `findings` can write, in Chinese: full-width punctuation, no English words, the same numbers."""
    from test_tour import _ascii_punctuation_in_chinese

    zh_findings = findings(runs, "zh")
    assert len(zh_findings) == len(findings(runs)) and all(re.search(r"[\u4e00-\u9fff]", f) for f in zh_findings)
    en = render_training({"settings": SETTINGS, "runs": runs, "findings": findings(runs)})
    zh = render_training({"settings": SETTINGS, "runs": runs, "findings": findings(runs)}, "zh")
    assert zh.split("\n\n")[2].splitlines() == zh_findings  # header, the table, then the findings
    assert _english_words(zh) == set() and _ascii_punctuation_in_chinese(zh) == []
    assert _numbers(en) == _numbers(zh)


def test_the_chinese_findings_read_as_a_teacher_would_write_them() -> None:
    runs = [_run("sigmoid", 1e-7, 0.194, during=1e-5), _run("tanh", 2e-2, 0.9), _run("gelu", 5e-5, 0.9),
            _run("relu", 1e-3, 0.956, dead=0.264, during=2e-3)]
    said = findings(runs, "zh")
    assert said[0] == ("梯度消失：初始化时，sigmoid 第一层得到的梯度只有 relu 的 1/10,000（1.00e-07 对 "
                       "1.00e-03，相差 4.0 个数量级），训练期间平均也只有 1/200。sigmoid 的导数最大只有 0.25，"
                       "所以反向传播时它的每一层都把梯度再缩小一些；它的前几层几乎学不到东西（测试准确率 0.194 对 "
                       "0.956）。")
    assert said[1:] == ["tanh：初始化时第一层的梯度是 relu 的 20 倍。",
                        "gelu：初始化时第一层的梯度只有 relu 的 1/20。",
                        "relu：初始化时有 26.4% 的隐藏单元已经“死亡”，训练结束时为 13.2%（对每个训练样本梯度都"
                        "恰为零）。"]
    diverged = findings([_run("relu", 1e-3, 0.1, diverged_at=3)], "zh")
    assert diverged == ["relu 发散了：第 3 轮中它的训练损失或权重梯度溢出，此后的数字衡量的是溢出，而不是激活函数；"
                        "调低 --lr（例如 0.001）再来比较。"]
    with pytest.raises(UserError, match="unknown language 'fr'"):
        findings(runs, "fr")


def test_a_diverged_run_has_no_dead_units_at_the_end_to_report() -> None:
    """After an overflow the "dead" units measure the overflow (the README says a diverged run's later figures are
    not compared), yet the finding reported them beside the sentence that called the run diverged."""
    said = findings([_run("sigmoid", 1e-7, 0.1), _run("relu", 1e-3, 0.1, dead=0.264, diverged_at=1)])
    dead = [line for line in said if "dead" in line]
    assert dead == ["relu: 26.4% of hidden units are dead at initialisation (zero gradient for every training "
                    "sample); its figure at the end measures the overflow."]
