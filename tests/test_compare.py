"""`torchprimer compare`: one split for every method, the expected ordering on digits, published
figures kept apart from results, the bar chart, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import fails, refused_in_both_languages, says_the_same_in_chinese

from torchprimer.cli import main
from torchprimer.compare import (
    METHODS,
    compare,
    ordering_checks,
    parse_methods,
    plot,
    references,
    render_table,
)
from torchprimer.errors import UserError


@pytest.fixture(scope="module")
def digits() -> dict[str, Any]:
    """Every method on digits, once; 10 epochs keep the deep nets quick and still ahead of the rule."""
    return compare("digits", methods=list(METHODS), epochs=10)


def test_every_method_on_the_same_split(digits: dict[str, Any]) -> None:
    assert [r["method"] for r in digits["rows"]] == list(METHODS)
    assert {r["test_samples"] for r in digits["rows"]} == {digits["sizes"]["test"]}
    # half of the 1,797 digits held out, as in the protocol of the published SVC figure
    assert abs(digits["sizes"]["test"] - 1797 / 2) < 2
    for row in digits["rows"]:
        assert 0 <= row["accuracy"] <= 1 and row["seconds"] >= 0 and row["parameters"] > 0
    families = {r["method"]: r["family"] for r in digits["rows"]}
    assert families["templates"] == "fixed rule" and families["nearest-mean"] == families["svc"] == "classic ML"
    assert families["cnn"] == "deep learning"


def test_learning_beats_the_fixed_rule_on_digits(digits: dict[str, Any]) -> None:
    assert digits["ok"] and len(digits["checks"]) == 7
    assert {c["claim"].split(" > ")[1] for c in digits["checks"]} == {"templates"}
    acc = {r["method"]: r["accuracy"] for r in digits["rows"]}
    assert acc["nearest-mean"] > 0.8 and acc["svc"] > 0.95 and acc["cnn"] > 0.95
    assert 0.1 < acc["templates"] < acc["nearest-mean"] - 0.2  # above chance, far below any learner


def test_the_fixed_rule_never_sees_the_training_split() -> None:
    """The nearest class mean was called a fixed rule, but its 640 numbers are averages of the training
    split: it learns. The templates are drawn in the code; the test split alone decides their score,
    whatever the training split holds, and their correlation ignores the normalisation it sets."""
    from types import SimpleNamespace

    from torchprimer.compare import GLYPHS, digit_templates, run_templates

    templates = digit_templates(8, 8)
    assert templates.shape == (10, 8, 8) and len(GLYPHS) == 10
    assert all(len(g) == 7 and {len(r) for r in g} == {5} for g in GLYPHS.values())
    # each template is best matched by itself, and an affine change of brightness keeps every answer
    y = torch.arange(10)
    test = SimpleNamespace(x_test=templates[:, None], y_test=y)
    assert run_templates(test) == {"accuracy": 1.0, "seconds": 0.0, "parameters": 350}
    dimmed = SimpleNamespace(x_test=templates[:, None] * 0.3 - 5.0, y_test=y)
    assert run_templates(dimmed)["accuracy"] == 1.0
    assert digit_templates(28, 28).shape == (10, 28, 28)  # MNIST's size


def test_the_templates_refuse_data_that_are_not_digits(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(UserError, match="--methods templates draws the digits 0-9, so it applies to digits and "
                                        "mnist only, not moons; leave it out"):
        compare("moons", methods="templates,logreg")
    # the default table leaves it out where it does not apply
    assert compare("moons", methods=None, epochs=1)["rows"][0]["method"] == "nearest-mean"


def test_parameter_counts_follow_from_the_models(digits: dict[str, Any]) -> None:
    params = {r["method"]: r["parameters"] for r in digits["rows"]}
    assert params["templates"] == 10 * 5 * 7  # one 5x7 glyph per digit, drawn by hand
    assert params["nearest-mean"] == 10 * 64  # one 8x8 average per class
    assert params["logreg"] == 10 * 64 + 10
    assert params["mlp"] == 64 * 128 + 128 + 128 * 10 + 10
    assert params["knn"] == digits["sizes"]["train"] * 64  # it keeps the training set


def test_published_figures_are_references_beside_the_table(digits: dict[str, Any], tmp_path: Path) -> None:
    text = render_table(digits)
    assert "Published figures (references from the literature, not measured here" in text
    assert "0.9700" in text and "scikit-learn digits example" in text
    assert all(r["method"] in text for r in digits["rows"])
    png = plot(digits, tmp_path / "bars" / "digits.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {r["method"] for r in references("MNIST-1D")} >= {"logistic regression", "MLP", "CNN"}
    assert references("Fashion_MNIST") and references("mnist") and references("nope") == []


def test_the_header_counts_have_thousands_separators(digits: dict[str, Any]) -> None:
    """The header printed `train 3601, validation 399, test 1000`; every other count has separators."""
    big = {**digits, "sizes": {"train": 3601, "val": 399, "test": 1000}}
    assert render_table(big).startswith("digits: train 3,601, validation 399, test 1,000; input ")
    assert render_table(big, lang="zh").startswith("digits：训练 3,601，验证 399，测试 1,000；输入 ")


def test_the_mnist1d_ordering_is_the_published_one() -> None:
    def rows(**acc: float) -> list[dict[str, Any]]:
        return [{"method": m, "accuracy": a} for m, a in acc.items()]

    good = ordering_checks("mnist1d", rows(logreg=0.32, mlp=0.6, cnn=0.95))
    assert len(good) == 3 and all(c["ok"] for c in good)
    close = ordering_checks("mnist1d", rows(logreg=0.32, mlp=0.6, cnn=0.65))
    assert [c["ok"] for c in close] == [False, True, True]  # "well ahead" means 10 points
    assert ordering_checks("mnist1d", rows(logreg=0.3)) == []


def test_bad_methods_and_fractions_are_user_errors() -> None:
    assert parse_methods("svc, logreg,svc") == ["svc", "logreg"]
    with pytest.raises(UserError, match="known: templates, nearest-mean"):
        parse_methods("svm")
    with pytest.raises(UserError, match="test-fraction"):
        compare("digits", methods="logreg", test_fraction=0.95)
    with pytest.raises(UserError, match="known data sets"):
        compare("no-such-data", methods="logreg")


def test_an_empty_method_entry_is_refused_not_dropped() -> None:
    """`--methods logreg,,svc` silently ran logreg and svc: the missing name is likely a typo, so say so."""
    for given in ("logreg,,svc", "logreg, ,svc", ",logreg", ["logreg", ""]):
        with pytest.raises(UserError, match="has an empty entry; separate the methods by single commas"):
            parse_methods(given)
    with pytest.raises(UserError, match="names no method"):
        parse_methods([])
    assert parse_methods("logreg, svc") == ["logreg", "svc"]  # spaces around a comma are fine


def test_cli_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--methods", "templates,logreg", "--plot", str(tmp_path / "c.png"), "--json"])
    assert exit_info.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in result["rows"]] == ["templates", "logreg"]
    assert result["checks"][0]["claim"] == "logreg > templates" and result["ok"]
    assert Path(result["plot"]).is_file() and result["references"][0]["accuracy"] == 0.97


@pytest.mark.parametrize(("args", "message"), [
    (["--methods", "svm"], "unknown method"),
    (["--dataset", "nope"], "known data sets"),
    (["--test-fraction", "1.5"], "test-fraction"),
    (["--epochs", "0"], "epochs"),
    (["--dataset", "mnist1d", "--methods", "templates,logreg"], "applies to digits and mnist only, not mnist1d"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--no-plot", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and len(err.strip().splitlines()) == 1


def test_knn_on_fewer_training_samples_than_its_k(tmp_path: Path) -> None:
    """A tiny npz (4 training samples) once crashed scikit-learn's KNeighborsClassifier (k = 5)."""
    from torchprimer.data import synthetic

    path = synthetic.write_npz(tmp_path / "tiny.npz", n=12, classes=2)
    result = compare(f"npz:{path}", methods="knn,logreg")
    knn = result["rows"][0]
    assert result["sizes"]["train"] == 4 and 0 <= knn["accuracy"] <= 1
    assert knn["description"].startswith("k-nearest neighbours, k = 4 ") and "only 4 samples" in knn["description"]
    assert knn["description"] in render_table(result)


@pytest.mark.parametrize(("args", "message"), [
    (["--methods", "logreg", "--epochs", "5"], "--epochs does nothing with --methods logreg (only mlp and cnn"),
    (["--methods", "svc,knn", "--device", "cpu"], "--device does nothing with --methods svc,knn"),
    (["--methods", "logreg", "--data-dir", "{folder}"], "--data-dir does nothing for digits (--data-dir is read by"),
    (["--dataset", "moons", "--download"], "--download does nothing for moons"),
    (["--dataset", "mnist1d", "--test-fraction", "0.3"], "--test-fraction does nothing for mnist1d (it ships its own"),
    (["--no-plot", "--plot", "{folder}/c.png"], "--plot does nothing with --no-plot"),
    (["--plot", "{folder}/notes.txt"], "notes.txt: the file is written as a PNG file, so its name must end in .png"),
    (["--plot", "{folder}"], "Is a directory"),
    (["--plot", ""], "Invalid value for '--plot': it is empty"),
    # an empty entry was dropped: `logreg,,svc` ran two methods, `,` and "" the error "(none given)"
    (["--methods", "logreg,,svc"], "--methods 'logreg,,svc' has an empty entry; separate the methods by single"),
    (["--methods", "logreg,"], "--methods 'logreg,' has an empty entry"),
    (["--methods", " , "], "--methods names no method; give one or more of templates, nearest-mean, knn,"),
    (["--methods", ""], "--methods names no method"),
    (["--lang", "fr"], "--lang 'fr': use en or zh"),
])
def test_cli_refuses_before_any_method_runs(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Options that would do nothing, and a chart path that cannot take a PNG (a folder was once found
    only after every method had run; `--plot notes.txt` overwrote the notes with PNG bytes)."""
    import torchprimer.compare
    from torchprimer import data

    (tmp_path / "notes.txt").write_text("my notes")
    monkeypatch.setattr(torchprimer.compare, "compare", lambda *a, **k: pytest.fail("ran before checking"))
    monkeypatch.setattr(data, "load", lambda *a, **k: pytest.fail("loaded data before checking"))
    assert message in fails(["compare", *(a.format(folder=tmp_path) for a in args)], capsys)
    assert (tmp_path / "notes.txt").read_text() == "my notes"


def test_cli_plot_suffix_is_any_case(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--methods", "nearest-mean", "--plot", str(tmp_path / "C.PNG"), "--json"])
    assert exit_info.value.code == 0 and (tmp_path / "C.PNG").read_bytes()[:4] == b"\x89PNG"
    assert json.loads(capsys.readouterr().out)["plot"] == str(tmp_path / "C.PNG")


def test_an_empty_validation_split_is_fixed_with_the_option_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The split's advice names --val-fraction, so compare takes it (it used to have no such option)."""
    import numpy as np

    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.random.default_rng(0).random((8, 3), dtype=np.float32), y=np.arange(8) % 2)
    with pytest.raises(SystemExit) as stopped:
        main(["compare", "--dataset", f"npz:{path}", "--methods", "nearest-mean", "--no-plot"])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "use --val-fraction " in err
    advice = err.rsplit("use ", 1)[1].split()
    with pytest.raises(SystemExit) as stopped:
        main(["compare", "--dataset", f"npz:{path}", "--methods", "nearest-mean", "--no-plot", "--json", *advice])
    assert stopped.value.code in (0, 1)  # ran: 1 only when the expected ordering fails
    assert json.loads(capsys.readouterr().out)["rows"][0]["method"] == "nearest-mean"


def test_the_deep_nets_are_scored_with_their_best_epochs_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """--help promises the best epoch by validation; compare scored the last epoch's weights. A patience
    of all the epochs makes fit keep and restore the best state without stopping early."""
    from torchprimer.training import loop

    seen = []
    real_fit = loop.fit

    def fit(model, data, cfg, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_fit(model, data, cfg, *args, **kwargs)
        seen.append((cfg.early_stopping, cfg.epochs, result.stopped_early))
        return result

    monkeypatch.setattr(loop, "fit", fit)
    compare("moons", methods=["mlp"], epochs=3)
    assert seen == [(3, 3, False)]



def test_a_class_missing_from_the_training_split_gets_no_nearest_mean_template(tmp_path: Path) -> None:
    """A rare class the random split left out of training: its template was the NaN mean of no samples,
    argmin took NaN as the nearest distance, and the fixed rule sent every test sample to that class
    (accuracy 0.07 with 'Mean of empty slice' warnings, on data it separates perfectly)."""
    import warnings

    import numpy as np

    from torchprimer import data as tpdata

    y = np.array([0] * 27 + [1, 2, 2])
    x = (np.random.default_rng(0).standard_normal((30, 3)) * 0.1 + 5.0 * y[:, None]).astype(np.float32)
    path = tmp_path / "rare.npz"
    np.savez(path, x=x, y=y)
    splits = tpdata.prepare(tpdata.load(f"npz:{path}"), val_fraction=0.1, test_fraction=0.5, split_seed=0)
    unseen = set(range(3)) - set(splits.y_train.tolist())
    assert unseen and set(splits.y_test.tolist()) - unseen  # the case itself: a class only outside training
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compare(f"npz:{path}", methods="nearest-mean,logreg")
    rule, logreg = result["rows"]
    seen_share = float(np.isin(splits.y_test.numpy(), sorted(unseen), invert=True).mean())
    assert rule["accuracy"] == logreg["accuracy"] == seen_share  # every seen class right, the unseen wrong
    assert rule["parameters"] == (3 - len(unseen)) * 3  # one template per class seen in training


def test_the_forest_takes_every_seed_the_option_allows() -> None:
    """--seed accepts up to 2**63 - 1; scikit-learn's random_state stops at 2**32 - 1, and a larger seed stopped
    the default table at the forest with "cannot learn from the 719 training samples ... use a larger data set"."""
    result = compare("moons", methods="forest", seed=2**32 + 5)
    assert 0.5 < result["rows"][0]["accuracy"] <= 1 and result["seed"] == 2**32 + 5


# --- --lang: the text in English or Chinese, as the other seed-§7 commands -----------------------

ZH_ENV = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """stdout and stderr of `torchprimer compare ARGV` run in this process, which must exit 0."""
    with pytest.raises(SystemExit) as stopped:
        main(["compare", *argv])
    out, err = capsys.readouterr()
    assert stopped.value.code == 0, err
    return out, err


@pytest.mark.parametrize("lang", [["--lang", "zh"], []], ids=["--lang zh", "LANG=zh_CN"])
def test_compare_speaks_chinese_under_lang_zh_or_a_chinese_locale(
    lang: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare had no --lang (`No such option: --lang`) and ignored LANG=zh, though its table speaks
    Chinese in tour 1: headings, notes, progress and the chart line now follow the language."""
    from test_tour import CJK, _ascii_punctuation_in_chinese

    for name, value in ZH_ENV.items():
        monkeypatch.setenv(name, value)
    argv = ["--methods", "templates,logreg,mlp", "--plot", str(tmp_path / "c.png")]
    out, err = _run([*argv, *lang], capsys)
    head = out.splitlines()
    assert head[0].startswith("digits：训练 719，验证 179，测试 899；输入 (1, 8, 8)；设备 cpu（CPU 上单线程）")
    assert head[2].split() == ["方法", "类别", "测试准确率", "训练秒数", "参数量"]
    assert "（mlp：20 轮中验证损失最低那一轮的权重；templates：不做任何训练，它的参数是人手画出的字形点阵）" in out
    assert "预期的排序：" in out
    assert out.rstrip().endswith(f"柱状图：{tmp_path / 'c.png'}")
    assert err.splitlines() == ["正在运行 templates ……", "正在运行 logreg ……", "正在运行 mlp ……"]
    assert not any(word in out for word in ("method", "family", "epoch", "Expected", "bar chart"))
    assert _ascii_punctuation_in_chinese(out.replace(str(tmp_path), "")) == []
    en, en_err = _run([*argv, "--lang", "en"], capsys)  # --lang en overrides the Chinese locale
    assert not CJK.search(en + en_err) and "Expected ordering:" in en and "running mlp ..." in en_err
    # the same rows: every accuracy and parameter count printed in English is printed in Chinese
    numbers = re.compile(r"\d\.\d{4}|\d+,\d{3}")
    assert sorted(numbers.findall(en)) == sorted(numbers.findall(out))


def test_compare_json_is_the_same_in_both_languages(capsys: pytest.CaptureFixture[str]) -> None:
    def result(lang: str) -> dict[str, Any]:
        out, err = _run(["--methods", "nearest-mean,knn", "--no-plot", "--json", "--lang", lang], capsys)
        assert err == ""  # no progress lines beside JSON, in either language
        data = json.loads(out)
        for row in data["rows"]:
            row.pop("seconds")  # a timing, the one figure that differs from run to run
        return data

    assert result("en") == result("zh")


def test_compare_help_offers_lang(capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = _run(["--help"], capsys)
    assert "--lang" in out and "en or zh" in out and "--lang zh" in out


def test_the_notes_of_one_epoch_and_one_training_sample_in_both_languages(tmp_path: Path) -> None:
    """The notes read "the best of 1 epochs" and "the training split holds only 1 samples", and stayed
    English in the Chinese table."""
    import numpy as np

    path = tmp_path / "five.npz"
    np.savez(path, x=np.random.default_rng(1).random((5, 2), dtype=np.float32), y=np.arange(5) % 2)
    result = compare(f"npz:{path}", methods="knn,mlp", epochs=1, val_fraction=0.2, test_fraction=0.6)
    assert result["sizes"]["train"] == 1
    en, zh = render_table(result), render_table(result, lang="zh")
    assert ("(mlp: the weights after its one epoch; k-nearest neighbours, k = 1 (scikit-learn; the training split "
            "holds only 1 sample))") in en
    assert "（mlp：训练 1 轮后的权重；k 近邻，k = 1（scikit-learn；训练集只有 1 个样本））" in zh
    assert "1 epochs" not in en and "1 samples" not in en
    assert "the best of 2 epochs" in render_table({**result, "epochs": 2})


# --- scikit-learn's refusals, named by their cause ------------------------------------------------

def _rare_class_npz(folder: Path) -> str:
    """200 samples, one of class 1: the split (seed 0) leaves it out of training."""
    import numpy as np

    y = np.zeros(200, dtype=np.int64)
    y[0] = 1
    path = folder / "rare.npz"
    np.savez(path, x=np.random.default_rng(0).random((200, 4), dtype=np.float32), y=y)
    return f"npz:{path}"


@pytest.mark.parametrize("method", ["logreg", "svc"])
def test_a_training_split_of_one_class_is_named_as_such(
    method: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It read "cannot learn from the 80 training samples ... use a larger data set": 80 samples are
    plenty; the cause is that all of them are class 0."""
    dataset = _rare_class_npz(tmp_path)
    err = fails(["compare", "--dataset", dataset, "--methods", method, "--no-plot", "--json"], capsys)
    assert err == (f"error: method {method} needs at least two classes to learn from, but the training split of "
                   f"{dataset} holds class 0 only (80 samples; class 1 fell only in the validation and test splits); "
                   f"use a data set with more samples of class 1, try another --seed (it draws the split), or leave "
                   f"{method} out\n")
    # the methods that can learn from one class still run on it
    assert compare(dataset, methods="knn,forest")["rows"][0]["accuracy"] > 0.9


def test_several_classes_left_out_of_training_are_listed_apart_from_the_advice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """"classes 1, 2, try another --seed" ran the list of classes into the list of fixes."""
    import numpy as np

    y = np.zeros(200, dtype=np.int64)
    y[:3] = [1, 2, 3]
    path = tmp_path / "rare3.npz"
    np.savez(path, x=np.random.default_rng(0).random((200, 4), dtype=np.float32), y=y)
    argv = ["compare", "--dataset", f"npz:{path}", "--methods", "logreg", "--no-plot", "--json"]
    err = fails(argv, capsys)
    assert "classes 1, 2 and 3 fell only in the validation and test splits); use a data set with more samples of " \
           "classes 1, 2 and 3, try another --seed" in err
    assert "类别 1、2、3 只出现在验证集和测试集中" in fails([*argv, "--lang", "zh"], capsys)


def test_any_other_refusal_quotes_scikit_learn_and_names_the_method(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not every refusal is about the data's size: the method and scikit-learn's own reason are named,
    with no advice to find a larger data set."""
    from sklearn.svm import SVC

    import torchprimer.compare

    monkeypatch.setattr(torchprimer.compare, "_sklearn", lambda *a: SVC(kernel="precomputed"))
    with pytest.raises(UserError) as refused:
        compare("digits", methods="svc")
    text = str(refused.value)
    assert text.startswith("method svc (scikit-learn) refused the training split of digits: Precomputed matrix "
                           "must be a square matrix. Input is a 719x64 matrix")
    assert text.endswith("; check the data (`torchprimer data stats digits`) or leave svc out")
    assert "larger data set" not in text and "\n" not in text


# --- refusals in the command's language ------------------------------------------------------------

KNOWN_METHODS = ", ".join(METHODS)
# what a refusal's Chinese keeps as the English has it: options, quoted values, commands, numbers, method names
KEPT = re.compile(r"--[a-z][a-z0-9-]*|'[^']*'|`[^`]*`|npz:\S+?\.npz|\d+(?:[,.]\d+)*|(?<![A-Za-z0-9_-])[a-z][a-z0-9_-]*")


@pytest.mark.parametrize(("argv", "english", "chinese"), [
    (["--methods", "nope"], f"unknown method(s) nope; known: {KNOWN_METHODS}",
     f"未知的方法 nope；已知的方法：{KNOWN_METHODS}"),
    (["--methods", "logreg,,svc"], "--methods 'logreg,,svc' has an empty entry; separate the methods by single "
     "commas, e.g. logreg,svc", "--methods 'logreg,,svc' 中有一项为空；请用单个逗号分隔各个方法，例如 logreg,svc"),
    (["--methods", " , "], f"--methods names no method; give one or more of {KNOWN_METHODS}, separated by commas",
     f"--methods 没有给出任何方法；请从 {KNOWN_METHODS} 中给出一个或多个，用逗号分隔"),
    (["--methods", "logreg", "--test-fraction", "1.5"], "--val-fraction 0.1 and --test-fraction 1.5 must each be "
     "in (0, 1) and leave data to train on (together < 1)",
     "--val-fraction 0.1 和 --test-fraction 1.5 都必须在 (0, 1) 之内，并且要给训练留下数据（两者之和 < 1）"),
], ids=["unknown method", "empty entry", "no method", "fractions"])
def test_compare_refuses_in_the_language_it_speaks(
    argv: list[str], english: str, chinese: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """compare's table spoke Chinese under --lang zh, while its refusals stayed English."""
    en, zh = refused_in_both_languages(["compare", "--no-plot", *argv], capsys, monkeypatch)
    assert (en, zh) == (f"error: {english}\n", f"error: {chinese}\n")
    says_the_same_in_chinese(en, zh, KEPT, set(METHODS))


def test_scikit_learns_refusals_are_explained_in_chinese_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both causes `_refusal` tells apart: a training split of one class, and scikit-learn's own reason,
    which is quoted as scikit-learn wrote it in either language."""
    from sklearn.svm import SVC

    import torchprimer.compare

    dataset = _rare_class_npz(tmp_path)
    en, zh = refused_in_both_languages(["compare", "--dataset", dataset, "--methods", "logreg", "--no-plot",
                                         "--json"], capsys, monkeypatch)
    assert en.startswith(f"error: method logreg needs at least two classes to learn from, but the training split "
                         f"of {dataset} holds class 0 only (80 samples;")
    assert zh == (f"error: 方法 logreg 至少需要两个类别才能学习，但 {dataset} 的训练集只有类别 0（80 个样本；"
                  "类别 1 只出现在验证集和测试集中）；请改用含有更多类别 1 样本的数据集、换一个 --seed"
                  "（它决定数据的划分），或者去掉 logreg\n")
    says_the_same_in_chinese(en, zh, KEPT, set(METHODS))

    monkeypatch.setattr(torchprimer.compare, "_sklearn", lambda *a: SVC(kernel="precomputed"))
    en, zh = refused_in_both_languages(["compare", "--methods", "svc", "--no-plot", "--json"], capsys, monkeypatch)
    quoted = "Precomputed matrix must be a square matrix. Input is a 719x64 matrix."
    assert en == (f"error: method svc (scikit-learn) refused the training split of digits: {quoted}; check the data "
                  "(`torchprimer data stats digits`) or leave svc out\n")
    assert zh == (f"error: 方法 svc（scikit-learn）拒绝了 digits 的训练集：{quoted}；请检查数据"
                  "（`torchprimer data stats digits`），或者去掉 svc\n")
    says_the_same_in_chinese(en, zh, KEPT, set(METHODS))


def test_a_refusal_only_the_python_api_meets_has_its_chinese_too() -> None:
    """--epochs below 1 is refused by the option's own bound on the command line; compare() refuses it itself."""
    with pytest.raises(UserError) as refused:
        compare("digits", methods="mlp", epochs=0)
    assert str(refused.value) == "--epochs 0 must be at least 1"
    assert refused.value.in_language("zh") == "--epochs 0 必须至少为 1"
