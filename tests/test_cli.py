"""The command line end to end: real subprocesses, exit codes, one-line errors, no stray run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import fails, run_cli

from torchprimer.cli import main


def test_train_counts_one_epoch_in_the_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "1", "--out", str(tmp_path)])
    assert exit_info.value.code == 0
    assert "(1 epoch, " in capsys.readouterr().out


def test_train_end_to_end_in_a_subprocess(tmp_path: Path) -> None:
    proc = run_cli("train", "--epochs", "2", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # not a terminal: one plain line per epoch, then the test figures and the run folder
    assert lines[0].startswith("epoch 1/2") and lines[1].startswith("epoch 2/2")
    assert "test accuracy" in proc.stdout and "run folder:" in proc.stdout
    assert len(list(tmp_path.iterdir())) == 1
    # train and evaluate state the test accuracy's interval in the same words and figures
    run_dir = next(tmp_path.iterdir())
    interval = [line for line in lines if line.startswith("95% interval")]
    assert interval and "test samples (Wilson score): " in interval[0]
    evaluated = run_cli("evaluate", str(run_dir))
    assert evaluated.returncode == 0, evaluated.stderr
    assert interval[0] in evaluated.stdout.splitlines()


def test_quiet_prints_nothing_and_json_prints_a_summary(tmp_path: Path) -> None:
    quiet = run_cli("train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "q"))
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    as_json = run_cli("train", "--epochs", "1", "--json", "--out", str(tmp_path / "j"))
    summary = json.loads(as_json.stdout)
    assert summary["epochs_run"] == 1 and 0 <= summary["test_accuracy"] <= 1


BAD = [
    (["--epochs", "0"], "--epochs"),
    (["--lr", "-1"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--device", "cuda:99"], "cuda"),  # no such device, with a GPU or without
    (["--cuda-graph", "--device", "cpu"], "--cuda-graph"),
    (["--cuda-graph", "--compile"], "--cuda-graph"),
    (["--amp", "--device", "cpu"], "--amp is used on a CUDA GPU only, and this run's device is cpu"),
    (["--compile", "--device", "cpu"], "--compile is used on a CUDA GPU only"),
    # --momentum is named only where it is the reason: Adam's refusal named the --momentum 0.9 nobody typed
    (["--nesterov"], "--nesterov is a kind of SGD momentum, which --optimizer adam does not use; leave --nesterov "
                     "out, or use --optimizer sgd --momentum 0.9"),
    (["--nesterov", "--optimizer", "sgd", "--momentum", "0"], "which --optimizer sgd with --momentum 0 does not use; "
                                                              "leave --nesterov out, or use --momentum 0.9"),
    (["--no-such-option"], "No such option"),
    (["--hidden", "12,,3"], "--hidden"),
    (["--model", "neuron"], "two classes"),
    (["--dataset", "nope"], "known data sets"),
    (["--optimizer", "rmsprop"], "optimizer"),
    (["--val-fraction", "0.001"], "the validation split of digits would hold no samples"),
    (["--test-fraction", "0"], "use --test-fraction 0.05"),  # digits has no test split of its own
]


@pytest.mark.parametrize(("args", "mentions"), BAD)
def test_bad_train_input_is_one_line_exit_2_and_no_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], mentions: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and mentions in err, err
    assert "Traceback" not in err
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_bad_input_from_the_real_entry_point_has_no_traceback(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = run_cli("train", "--epochs", "0", "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr and not out.exists()


LONG = "x" * 5000  # longer than any file system's name limit: pathlib's checks raise instead of answering


@pytest.mark.parametrize("argv", [
    ["evaluate", LONG], ["predict", LONG, "in.npy"], ["export", LONG, "-f", "onnx"], ["data", "stats", f"npz:{LONG}"],
    ["train", "--resume", LONG], ["compare", "--dataset", f"npz:{LONG}", "--no-plot"],
], ids=["evaluate", "predict", "export", "data stats", "train --resume", "compare"])
def test_a_path_too_long_for_the_file_system_is_one_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A traceback (OSError: File name too long) and exit 1 before; now one line and exit 2, the path cut short."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LANG", "C.UTF-8")
    err = fails(argv, capsys)
    assert "is too long for the file system" in err and "use a shorter path" in err and len(err) < 200, err


def test_a_path_too_long_is_refused_in_chinese_by_a_command_that_speaks_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    err = fails(["compare", "--dataset", f"npz:{LONG}", "--no-plot", "--lang", "zh"], capsys)
    assert "超出了文件系统的长度限制" in err and "请用更短的路径" in err, err


def test_help_lists_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Examples" in out and "--resume" in out and "--early-stopping" in out


@pytest.mark.parametrize("command", ["train", "lr-find"])
def test_help_states_the_defaults_that_train_really_uses(command: str) -> None:
    """These options are None in the CLI (so a typed one can be told from a default) and their help
    types the default by hand: each must be TrainConfig's, and every default with a value is stated."""
    import dataclasses
    import re

    import typer

    from torchprimer.cli import app
    from torchprimer.training.config import TrainConfig

    def shown(value: object) -> str:
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)

    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    checked = 0
    for param in params:
        if param.name not in defaults or param.default is not None:
            continue  # not a TrainConfig field, or a default click shows itself
        stated = re.search(r"\[default: ([^\]]+)\]", param.help or "")
        value = defaults[param.name]
        if value is None or value is False:
            continue  # a flag that is off, or a default worked out per run (--cuda-graph, the set's own)
        assert stated, f"--{param.name}: no [default: ...] in its help"
        assert stated.group(1).split(",")[0] == shown(value).split(",")[0], (param.name, stated.group(1), value)
        checked += 1
    assert checked >= (20 if command == "train" else 6)


def _commands() -> list[tuple[str, object]]:
    import typer

    from torchprimer.cli import app

    found, todo = [], [("", typer.main.get_command(app))]
    while todo:
        name, command = todo.pop()
        subcommands = getattr(command, "commands", None)
        if subcommands:
            todo += [(f"{name} {sub}".strip(), c) for sub, c in subcommands.items()]
        else:
            found.append((name, command))
    return sorted(found, key=lambda item: item[0])


def test_every_commands_examples_render_as_one_code_block() -> None:
    """typer dedents an epilog before its Markdown, so examples with no note under them wrapped as
    prose while the others stayed code: every example line is now inside a fenced block."""
    commands = _commands()
    assert len(commands) >= 18
    for name, command in commands:
        lines = (command.epilog or "").split("\n")  # type: ignore[attr-defined]
        assert lines[0] == "Examples:", name
        fences = [i for i, line in enumerate(lines) if line == "```"]
        assert len(fences) == 2, name
        examples = [line for line in lines[fences[0] + 1 : fences[1]] if line]
        assert examples and all(line.split()[0] in ("torchprimer", "torchrun", "python") for line in examples), name
        outside = lines[: fences[0]] + lines[fences[1] + 1 :]
        assert not [line for line in outside if line.startswith(("torchprimer ", "    "))], name


def test_resume_of_a_folder_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--resume", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not a torchprimer run folder" in capsys.readouterr().err


def test_models_lists_parameter_counts(capsys: pytest.CaptureFixture[str]) -> None:
    main_exit(["models", "--json"])
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["linear"]["parameters"] == 64 * 10 + 10
    assert rows["mlp"]["parameters"] == 64 * 128 + 128 + 128 * 10 + 10
    assert rows["neuron"]["parameters"] is None and "two classes" in rows["neuron"]["note"]


def test_models_for_a_set_not_downloaded_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """MNIST's and CIFAR-10's shapes are known without their files, which a learner may not have yet."""
    monkeypatch.chdir(tmp_path)
    main_exit(["models", "--dataset", "mnist", "--json"])
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mlp"]["input_shape"] == [1, 28, 28]
    assert rows["mlp"]["parameters"] == 784 * 128 + 128 + 128 * 10 + 10  # the seed's 784-128-10 MLP
    main_exit(["models", "--dataset", "cifar10", "--json"])
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["linear"]["parameters"] == 3 * 32 * 32 * 10 + 10
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or written
    proc = run_cli("models", "--activation", "nope")
    assert proc.returncode == 2 and "unknown activation 'nope'; known: relu" in proc.stderr


def test_models_table_keeps_the_number_column_for_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """The neuron's reason ('a single sigmoid unit for two classes ...') filled the right-aligned
    parameters column over three lines; it now reads n/a there and the reason sits under the description."""
    main_exit(["models"])
    neuron = next(line for line in capsys.readouterr().out.splitlines() if "neuron" in line)
    cells = [cell.strip() for cell in neuron.split("│")[1:-1]]
    assert cells[:2] == ["neuron", "n/a"] and cells[2].startswith("the seed's single sigmoid")


def test_models_for_an_image_folder_take_trains_image_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`train --dataset imagefolder:DIR --image-size 64` builds models for 3x64x64 inputs; `models`
    could only count them at 32 pixels."""
    from conftest import fails
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (40, 30), (60 * i, 100, 200)).save(tmp_path / name / f"{i}.png")
    main_exit(["models", "--dataset", f"imagefolder:{tmp_path}", "--image-size", "64", "--json"])
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["linear"]["input_shape"] == [3, 64, 64]
    assert rows["linear"]["parameters"] == 3 * 64 * 64 * 2 + 2
    assert "read by imagefolder" in fails(["models", "--image-size", "64"], capsys)  # digits: 8x8, always


@pytest.mark.parametrize("folder", ["q[/b]", "p[bold]"])
def test_models_shows_a_folder_name_with_brackets_as_it_is(
    folder: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """rich read the data set's name in the table's title as markup: imagefolder:q[/b] ended in a MarkupError
    traceback, and imagefolder:p[bold] was shown as imagefolder:p."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    for name in ("cat", "dog"):
        (tmp_path / folder / name).mkdir(parents=True)
        Image.new("L", (8, 8), 100).save(tmp_path / folder / name / "0.png")
    main_exit(["models", "--dataset", f"imagefolder:{folder}"])
    assert f"models for imagefolder:{folder} (input [1, 32, 32], 2 classes)" in capsys.readouterr().out


def test_lr_find_suggests_a_rate_inside_the_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "lr.png"
    main_exit(["lr-find", "--steps", "60", "--plot", str(plot), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert 1e-7 <= result["suggestion"] <= result["min_loss_lr"] <= 10
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert min(result["losses"]) < result["losses"][0]  # the loss does fall somewhere in the sweep


def test_lr_find_reads_the_data_train_would_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """lr-find took no --data-dir, --n-samples, --noise or --activation: MNIST was found only in the cache
    folder, and the range test ran on a toy set or a network other than the one the run would train."""
    from torchprimer.data import synthetic

    synthetic.write_mnist(tmp_path / "data", n_train=300, n_test=50)
    plot = tmp_path / "lr.png"
    main_exit(["lr-find", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--activation", "tanh",
               "--steps", "10", "--plot", str(plot), "--json"])
    lrs = json.loads(capsys.readouterr().out)["lrs"]
    assert len(lrs) == 10 and lrs[0] == 1e-7 and lrs[-1] == 10.0  # the range's ends exactly, as --help gives them
    main_exit(["lr-find", "--dataset", "moons", "--n-samples", "100", "--noise", "0.3", "--steps", "10", "--plot",
               str(plot), "--json"])
    assert len(json.loads(capsys.readouterr().out)["lrs"]) == 10
    assert "--noise does nothing for digits" in fails(["lr-find", "--noise", "0.3", "--steps", "10"], capsys)
    assert "--activation does nothing for --model linear" in fails(
        ["lr-find", "--model", "linear", "--activation", "tanh", "--steps", "10"], capsys)


@pytest.mark.parametrize("end", ["inf", "1e300"])
def test_lr_find_refuses_an_endless_sweep(end: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--end inf used to sweep to lr inf and 'suggest' the starting rate, exit 0."""
    with pytest.raises(SystemExit) as exit_info:
        main(["lr-find", "--end", end, "--steps", "10"])
    assert exit_info.value.code == 2 and "--start < --end <= 1000 and" in capsys.readouterr().err


@pytest.mark.parametrize("start", ["1e-320", "1e-13", "0"])
def test_lr_find_refuses_a_start_too_small_to_move_a_weight(start: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--start 1e-320 made the sweep's growth factor overflow: it trained at lr inf and said "it stayed flat"."""
    err = fails(["lr-find", "--start", start, "--steps", "10"], capsys)
    assert "lr-find needs 1e-12 <= --start < --end <= 1000" in err


def test_lr_find_refuses_steps_that_would_crawl(capsys: pytest.CaptureFixture[str]) -> None:
    """--steps 1e20 made the rate's growth factor round to 1: it trained at --start until killed."""
    with pytest.raises(SystemExit) as exit_info:
        main(["lr-find", "--steps", "100000000000000000000"])
    assert exit_info.value.code == 2 and "10 to 100,000 --steps" in capsys.readouterr().err


def main_exit(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0


@pytest.mark.parametrize(("args", "mentions"), [
    (["train", "--epochs", "1", "--out", "{file}"], "is a file, not a folder"),
    (["data", "inspect", "digits", "--out", "{file}"], "is a file, not a folder"),
    (["activations", "--train", "--names", "relu", "--epochs", "1", "--depth", "1", "--out", "{file}/sub"],
     "is a file, not a folder"),
    (["lr-find", "--steps", "20", "--plot", "{folder}"], "Is a directory"),
    (["graph", "--out", "{folder}.dot"], "Is a directory"),
])
def test_an_output_path_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], mentions: str
) -> None:
    """A file where a folder must go, or a folder where a file must go: the atomic writer and the
    run folder say so in one line (they once raised NotADirectoryError, IsADirectoryError...)."""
    (tmp_path / "taken.png").write_bytes(b"not to be overwritten")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder.dot").mkdir()
    args = [a.format(file=tmp_path / "taken.png", folder=tmp_path / "folder") for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and err.startswith("error: cannot "), err
    assert mentions in err, err
    assert "choose another path" in err or "give --out a folder" in err, err
    assert (tmp_path / "taken.png").read_bytes() == b"not to be overwritten"
    assert not any((tmp_path / "folder").iterdir()) and not any((tmp_path / "folder.dot").iterdir())


@pytest.mark.parametrize("args", [[], ["data"]])
def test_a_bare_command_shows_its_help_without_an_empty_error_line(args: list[str]) -> None:
    proc = run_cli(*args)
    assert "Usage:" in proc.stdout + proc.stderr
    assert "error:" not in proc.stderr, proc.stderr


def test_nproc_refuses_a_batch_that_leaves_a_process_without_rows_in_one_line(tmp_path: Path) -> None:
    """Checked before the processes start: one line, not one per process plus torch's launcher logs."""
    proc = run_cli("train", "--nproc", "2", "--batch-size", "1437", "--epochs", "1", "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --batch-size 1437 leaves a last batch of 1") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_a_data_file_given_by_a_relative_path_still_works_from_another_folder(tmp_path: Path) -> None:
    from torchprimer.data import synthetic

    synthetic.write_npz(tmp_path / "a.npz", n=90)
    trained = run_cli("train", "--dataset", "npz:a.npz", "--epochs", "1", "--quiet", "--out", "runs", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    run = next((tmp_path / "runs").iterdir())
    assert json.loads((run / "config.json").read_text())["config"]["dataset"] == f"npz:{tmp_path / 'a.npz'}"
    (tmp_path / "elsewhere").mkdir()
    evaluated = run_cli("evaluate", str(run), "--json", cwd=tmp_path / "elsewhere")
    assert evaluated.returncode == 0, evaluated.stderr
    resumed = run_cli("train", "--resume", str(run), "--epochs", "2", "--dataset", "npz:../a.npz", "--quiet",
                      cwd=tmp_path / "elsewhere")  # the same file, named from here
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.parametrize(("args", "mentions"), [
    (["graph", "--hidden", "4"], "--hidden only shapes the graph of a --model"),
    (["graph", "--activation", "tanh", "--dataset", "mnist1d"], "--activation and --dataset only shape"),
    # one option, one pronoun: "--hidden ... or leave them out" read as if more had been given
    (["graph", "--hidden", "4"], "e.g. --model mlp, or leave it out to draw the seed's example"),
    (["graph", "--activation", "tanh", "--dataset", "mnist1d"], "or leave them out to draw the seed's example"),
])
def test_an_option_that_would_be_ignored_is_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], mentions: str
) -> None:
    """graph draws the seed's example unless --model is given; --hidden alone used to be dropped."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and mentions in err, err


@pytest.mark.parametrize("argv", [
    ["train", "--seed", str(2**64)], ["train", "--data-seed", "-1"], ["lr-find", "--seed", str(2**64)],
    ["compare", "--seed", str(2**64)], ["gradcheck", "--seed", str(2**64)], ["data", "stats", "digits", "--seed", "-1"],
    ["data", "inspect", "digits", "--seed", str(2**64)], ["activations", "--train", "--seed", str(2**64)],
])
def test_a_seed_out_of_range_is_one_line_before_any_work(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2, err
    assert err.count("\n") == 1 and "seed'" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_image_size_takes_the_same_range_on_the_command_line_as_in_python(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--help and the CLI said x>=4 and no maximum, while torchprimer.train takes 2 to 1024 and said so."""
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("L", (6, 6), 255 if name == "a" else 0).save(tmp_path / name / "0.png")
    main_exit(["models", "--dataset", f"imagefolder:{tmp_path}", "--image-size", "2"])
    for size, bound in (("1", "greater than or equal to 2"), ("1025", "less than or equal to 1024")):
        assert bound in fails(["models", "--dataset", f"imagefolder:{tmp_path}", "--image-size", size], capsys)
        assert bound in fails(["train", "--dataset", f"imagefolder:{tmp_path}", "--image-size", size], capsys)
