"""bench/recipes.py: it picks the fast recipe on validation accuracy alone, and its --quick run works.

No test asserts an accuracy or a timing: both depend on the machine and on torch's version.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

RECIPES_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "recipes.py"


@pytest.fixture(scope="module")
def recipes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_recipes", RECIPES_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def candidate(name: str, val: dict[str, float], test: dict[str, float], epochs: int = 30,
              batch_size: int = 256) -> dict[str, Any]:
    return {"name": name, "epochs": epochs, "batch_size": batch_size, "val_acc": val, "test_acc": test}


def test_choice_follows_validation_not_test(recipes: ModuleType) -> None:
    """Test accuracies that disagree with validation do not move the choice, whatever they are."""
    val_best = candidate("val-best", {"digits": 0.98, "mnist1d": 0.62}, {"digits": 0.90, "mnist1d": 0.50})
    test_best = candidate("test-best", {"digits": 0.97, "mnist1d": 0.61}, {"digits": 0.99, "mnist1d": 0.70})
    assert recipes.choose([test_best, val_best]) == "val-best"
    assert recipes.choose([val_best, test_best]) == "val-best"
    stripped = [{k: v for k, v in c.items() if k != "test_acc"} for c in (test_best, val_best)]
    assert recipes.choose(stripped) == "val-best"


def test_choice_averages_data_sets_then_breaks_ties(recipes: ModuleType) -> None:
    # the mean over data sets decides, not the best single data set
    a = candidate("a", {"digits": 0.99, "mnist1d": 0.55}, {})
    b = candidate("b", {"digits": 0.97, "mnist1d": 0.60}, {})
    assert recipes.choose([a, b]) == "b"
    # equal means (up to float noise): fewer epochs, then the larger batch, then grid order
    long = candidate("long", {"digits": 0.1 + 0.2}, {}, epochs=40)
    short = candidate("short", {"digits": 0.3}, {}, epochs=15)
    assert recipes.choose([long, short]) == "short"
    small = candidate("small", {"digits": 0.5}, {}, batch_size=128)
    big = candidate("big", {"digits": 0.5}, {}, batch_size=512)
    assert recipes.choose([small, big]) == "big"
    first, second = candidate("first", {"digits": 0.5}, {}), candidate("second", {"digits": 0.5}, {})
    assert recipes.choose([first, second]) == "first"
    with pytest.raises(ValueError):
        recipes.choose([])


def test_main_chooses_on_validation_with_disagreeing_test(recipes: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """End to end with a stand-in `train`: the recipe whose validation is best wins although its test is worst."""
    calls: list[dict[str, Any]] = []

    def fake_train(**options: Any) -> SimpleNamespace:
        calls.append(options)
        good_val = options["batch_size"] == 128  # b128 wins on validation, loses on test
        history = [{"epoch": 1, "val_acc": 0.2}, {"epoch": 2, "val_acc": 0.9 if good_val else 0.8}]
        return SimpleNamespace(history=history, test={"accuracy": 0.1 if good_val else 0.99, "loss": 1.0})

    monkeypatch.setattr(recipes.torchprimer, "train", fake_train)
    assert recipes.main(["--quick", "--json", "--seeds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chosen"]["name"] == "b128-lr0.01-e2-onecycle"
    assert out["chosen"]["val_acc"] == {"digits": pytest.approx(0.9)}
    assert out["test_after_choice"]["b128-lr0.01-e2-onecycle"]["digits"]["mean"] == pytest.approx(0.1)
    assert len(calls) == 3 * 2  # two candidates and the default, two seeds each
    assert {c["seed"] for c in calls} == {0, 1}
    assert all(c["save"] is False and c["progress"] == "none" and c["device"] == "cpu" for c in calls)


def test_quick_run_reports_the_json_structure(recipes: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert recipes.main(["--quick", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["datasets"] == ["digits"] and out["seeds"] == [0]
    assert "validation" in out["rule"] and "test accuracy is not used" in out["rule"]
    names = [c["name"] for c in out["candidates"]]
    assert sorted(names) == ["b128-lr0.01-e2-onecycle", "b256-lr0.03-e2-onecycle"]
    for c in [*out["candidates"], out["default"]]:
        assert set(c) == {"name", "recipe", "val", "val_acc_mean"}
        assert "test" not in json.dumps(c)  # the ranked table holds validation figures only
        v = c["val"]["digits"]
        assert 0 <= v["mean"] <= 1 and len(v["runs"]) == 1 and v["diverged"] == 0
    assert out["chosen"]["name"] == names[0]  # the table is ranked by the rule
    assert out["chosen"]["name"] in names
    assert set(out["chosen"]["not_below_default_on_validation"]) == {"digits"}
    assert out["default"]["recipe"] == {"batch_size": 64, "lr": 1e-3, "schedule": "none", "epochs": 2}
    assert out["current_fast"]["in_grid"] is False and out["chosen_equals_current_fast"] is False
    assert set(out["test_after_choice"]) == {out["chosen"]["name"], out["default"]["name"]}
    assert 0 <= out["test_after_choice"][out["chosen"]["name"]]["digits"]["mean"] <= 1
    assert out["wall_seconds"] > 0
    assert "chosen:" in recipes.render(out) and "equals RECIPES['fast']: False" in recipes.render(out)


@pytest.mark.parametrize("args", [["--seeds", "0"], ["--seeds", "two"], ["--datasets", "cifar10"],
                                  ["--datasets", "digits,digits"], ["--datasets", ","], ["--bogus"]])
def test_bad_options_are_one_line_and_exit_2(recipes: ModuleType, args: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        recipes.main(args)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("recipes.py: ") and captured.out == ""


def test_as_a_script_a_bad_option_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(RECIPES_SCRIPT), "--seeds", "0"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and done.stdout == ""


def test_help_states_the_rule(recipes: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        recipes.main(["--help"])
    assert exit_info.value.code == 0
    assert "Choice rule (validation only)" in capsys.readouterr().out
