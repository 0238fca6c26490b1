"""`torchprimer bench` on a tiny size: it runs, reports every figure, and leaves no files.

No test asserts a timing: timings depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from conftest import fails, stderr_after_stop

import torchprimer.bench as bench_module
from torchprimer.bench import (
    BenchOptions,
    conv_images_per_second,
    conv_section,
    layer_sizes,
    out_of_memory_as_user_error,
    render,
    render_conv,
    render_tta,
    run_bench,
    seed_model,
    time_to_accuracy,
)
from torchprimer.cli import main
from torchprimer.errors import UserError

TINY = {"n_train": 300, "n_test": 50, "repeats": 1, "epochs": 1}


def leftovers(tmp: Path) -> list[str]:
    """What is left in the temporary folder; torch's own compile cache (torchinductor_<user>,
    made when any optimizer first imports torch._dynamo) belongs to torch, not to the bench."""
    return [p.name for p in tmp.iterdir() if not p.name.startswith("torchinductor_")]


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders and torchprimer's cache both inside tmp_path, so leftovers show."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_bench_reports_all_parts_and_leaves_no_files(private_tmp: Path) -> None:
    threads = torch.get_num_threads()
    report = run_bench(**TINY)
    assert leftovers(private_tmp / "tmp") == [], "temporary files left behind"
    assert not (private_tmp / "cache").exists(), "bench wrote into the user's torchprimer cache"
    assert torch.get_num_threads() == threads
    seed, tp, floor = report["seed"], report["torchprimer"], report["floor"]
    assert seed["samples"] == 300 and seed["last_line"].startswith("Epoch 1, Loss: ")
    assert 0 < tp["samples"] < 300  # its training split; the rest is validation
    for part in (seed, tp):
        assert len(part["epoch_seconds"]) == 1 and part["seconds_min"] > 0 and part["samples_per_s"] > 0
    assert floor["step_seconds"] > 0 and floor["samples"] == tp["samples"]
    assert set(report["ratios"]) >= {"torchprimer_vs_seed_speedup", "torchprimer_vs_floor_time"}
    assert all(v > 0 for v in report["ratios"].values())
    assert report["environment"]["torch"] == torch.__version__ and "validation" in report["timed"]
    text = render(report)
    assert "seed (§6.2 loop)" in text and "torchprimer / floor" in text
    # one run: its set-up includes the first import of torchprimer's data and training code, and says so
    assert tp["setup_runs"] == 1 and "s in its one run, imports included" in text
    assert "s per run" in render({**report, "torchprimer": {**tp, "setup_runs": 3}})
    json.dumps(report)


def test_bench_json_from_the_cli(private_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--samples", "200", "--repeats", "1", "--parts", "torchprimer,floor", "--threads", "1",
              "--model", "linear", "--json"])
    assert exit_info.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert "seed" not in report and report["config"]["layers"] == "784-10"
    assert report["environment"]["threads"] == 1
    assert leftovers(private_tmp / "tmp") == []


def test_threads_shape_every_part_small_models_included(private_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """train picks 1 thread for small models; --threads 2 was then ignored by torchprimer and the floor (and
    the breakdown), so the ratios compared 1 thread against the seed's 2."""
    with pytest.raises(SystemExit):
        main(["bench", "--samples", "200", "--repeats", "1", "--parts", "torchprimer,floor,breakdown", "--threads",
              "2", "--model", "linear", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["torchprimer"]["threads"] == report["floor"]["threads"] == report["breakdown"]["threads"] == 2


def test_bench_reads_real_files_from_data_dir(private_tmp: Path) -> None:
    from torchprimer.data.synthetic import write_mnist

    write_mnist(private_tmp / "data", n_train=200, n_test=40, gzipped=True)
    report = run_bench(data_dir=str(private_tmp / "data"), parts=("seed",), **TINY)
    assert report["seed"]["samples"] == 200


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--batch-size", "0"], "--batch-size"),
        (["--model", "cnn"], "mlp, linear"),
        (["--parts", "seed,nope"], "nope"),
        (["--data-dir", "/nonexistent/torchprimer"], "MNIST/raw"),
        (["--samples", "3"], "--samples"),
        (["--target", "1.5"], "--target"),
        (["--target", "0.9", "--dataset", "cifar10"], "digits, mnist1d"),
        (["--dataset", "digits"], "--target"),
        (["--conv-images", "0", "--parts", "conv"], "--conv-images"),
        (["--conv-batch", "0", "--parts", "conv"], "--conv-batch"),
        (["--parts", "breakdown", "--device", "cuda"], "--device cpu"),
        (["--parts", "eager", "--device", "cpu"], "--device cuda"),
        (["--threads", "1000000000000"], "from 1 to 1024"),  # past torch's int32: was a ValueError traceback
        (["--threads", "2000"], "from 1 to 1024"),
        (["--threads", "0"], "--threads"),
        (["--threads", "-1"], "--threads"),
        (["--threads", "1e12"], "--threads"),
        (["--epochs", "0"], "--epochs"),
        (["--repeats", "0"], "--repeats"),
        (["--samples", "0"], "--samples"),
        (["--samples", "1"], "--samples"),
        (["--samples", "-5"], "--samples"),
        (["--samples", "40"], "at least 50"),  # passed the check, then failed after the seed's loop had run
        (["--conv-batch", "-1", "--parts", "conv"], "--conv-batch"),
        (["--hidden", "0"], "--hidden"),
        (["--device", "foo"], "unknown device"),
        # sizes far past any machine's memory: were numpy's or torch's allocation tracebacks
        (["--batch-size", "1000000000000", "--parts", "floor"], "--batch-size"),
        (["--conv-images", "1000000000000", "--parts", "conv"], "--conv-images"),
        (["--samples", "100000000000000", "--parts", "seed"], "--samples"),
        (["--target", "-1"], "--target"),
        (["--target", "0"], "--target"),
        (["--target", "nan"], "--target"),
        (["--target", "inf"], "--target"),
        (["--target", "0.9", "--max-epochs", "0"], "--max-epochs"),
        (["--target", "0.9", "--repeats", "0"], "--repeats"),
        (["--target", "0.9", "--threads", "0"], "--threads"),
        (["--target", "0.9", "--threads", "5000"], "from 1 to 1024"),
        (["--target", "0.97", "--device", "foo"], "unknown device"),  # printed a progress line first
        (["--target", "0.9", "--device", "mps"], "--device"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str], private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checked before any work: nothing is timed, no progress line comes first, no traceback."""
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bench started work although an option is bad")

    monkeypatch.setattr(bench_module, "_measure", never)
    monkeypatch.setattr(bench_module, "run_recipe", never)
    assert needle in fails(["bench", *args], capsys)
    assert leftovers(private_tmp / "tmp") == []


def test_a_full_or_missing_temporary_folder_is_one_line_and_leaves_nothing(
    private_tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The generated files are about 55 MB: a full /tmp was an OSError traceback from write_mnist."""
    import errno

    from torchprimer.data import synthetic

    def full_disk(root: Path, **kwargs: object) -> Path:
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        (raw / "train-images-idx3-ubyte").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    args = ["bench", "--parts", "seed", "--samples", "100", "--repeats", "1"]
    monkeypatch.setattr(synthetic, "write_mnist", full_disk)
    err = fails(args, capsys)
    assert "No space left on device" in err and "TMPDIR" in err and "--data-dir" in err, err
    assert leftovers(private_tmp / "tmp") == []
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp / "missing"))
    assert "cannot write the bench's generated MNIST files" in fails(args, capsys)


@pytest.mark.parametrize("damage", ["truncated", "labels"])
def test_damaged_idx_files_are_one_line_before_the_seed_loop_runs(
    damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The seed's torchvision reader met them first: a RuntimeError, AssertionError or IndexError traceback."""
    from torchprimer.data import synthetic

    synthetic.write_mnist(tmp_path, n_train=60, n_test=10)
    raw = tmp_path / "MNIST" / "raw"
    images, labels = raw / "train-images-idx3-ubyte", raw / "train-labels-idx1-ubyte"
    if damage == "truncated":
        images.write_bytes(images.read_bytes()[:5000])
    else:
        data = bytearray(labels.read_bytes())
        data[8:] = bytes(b + 200 for b in data[8:])
        labels.write_bytes(bytes(data))
    needle = {"truncated": "is truncated", "labels": "has label 20"}[damage]
    err = fails(["bench", "--data-dir", str(tmp_path), "--repeats", "1", "--parts", "seed"], capsys)
    assert needle in err and "add --download" not in err, err  # bench has no --download
    assert ("--download --data-dir" in err) == (damage == "truncated"), err  # bench's own way to fetch again


@pytest.mark.parametrize(("files", "needle"), [
    ("no test images", "no t10k-images-idx3-ubyte in"),
    ("five images", "5 training images are too few"),
])
def test_user_files_the_bench_cannot_use_are_refused_before_the_seed_loop(
    files: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without test files the loader's advice named --download and a temporary cache folder; five images
    failed in torchprimer's part, after the seed's loop had run, advising --val-fraction (train's option)."""
    from torchprimer.data import synthetic

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bench started timing files it cannot use")

    monkeypatch.setattr(bench_module, "time_seed", never)
    synthetic.write_mnist(tmp_path, n_train=5 if files == "five images" else 60, n_test=10)
    if files == "no test images":
        (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").unlink()
    err = fails(["bench", "--data-dir", str(tmp_path), "--repeats", "1", "--parts", "seed,torchprimer"], capsys)
    assert needle in err and "--val-fraction" not in err and "--download" not in err, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        *[(["--target", "0.9", flag, value], flag) for flag, value in (
            ("--batch-size", "32"), ("--epochs", "2"), ("--samples", "100"), ("--parts", "seed"),
            ("--conv-batch", "8"), ("--conv-images", "8"), ("--model", "linear"), ("--hidden", "64"),
            ("--data-dir", "/nonexistent/torchprimer"))],
        (["--max-epochs", "3"], "--max-epochs"),
        (["--conv-batch", "8"], "--conv-batch"),
        (["--conv-images", "8", "--parts", "seed,floor"], "--conv-images"),
        (["--parts", "conv", "--batch-size", "8"], "--batch-size"),
        (["--parts", "conv", "--repeats", "2"], "--repeats"),
        (["--parts", "floor", "--epochs", "2"], "--epochs"),
        (["--parts", "floor", "--data-dir", "/nonexistent/torchprimer"], "--data-dir"),
        (["--model", "linear", "--hidden", "64"], "--hidden"),
        (["--data-dir", "/nonexistent/torchprimer", "--samples", "100"], "--samples"),
    ],
)
def test_options_that_would_change_nothing_are_refused(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typed option the run ignores misleads (the user believes it shaped the figures): one line, exit 2,
    before anything runs."""
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bench ran with an option it ignores")

    monkeypatch.setattr(bench_module, "run_bench", never)
    monkeypatch.setattr(bench_module, "time_to_accuracy", never)
    err = fails(["bench", *args], capsys)
    assert needle in err and "nothing" in err


def test_out_of_memory_is_one_clear_error() -> None:
    with pytest.raises(UserError, match="ran out of memory"), out_of_memory_as_user_error():
        raise MemoryError("Unable to allocate 745. GiB")
    with pytest.raises(UserError, match="--batch-size"), out_of_memory_as_user_error():
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 3136000000000 bytes")
    with pytest.raises(RuntimeError, match="something else"), out_of_memory_as_user_error():
        raise RuntimeError("something else")


def test_breakdown_builds_the_epoch_up_from_the_floor(private_tmp: Path) -> None:
    threads = torch.get_num_threads()
    report = run_bench(parts=("torchprimer", "floor", "breakdown"), **TINY)
    assert leftovers(private_tmp / "tmp") == [] and torch.get_num_threads() == threads
    section = report["breakdown"]
    assert [row["stage"] for row in section["stages"]] == ["floor", "batches", "kernels", "adam", "loop"]
    samples = report["torchprimer"]["samples"]
    assert section["samples"] == samples and section["steps"] == -(-samples // 64)
    assert samples % 64, "the tiny set should end in a shorter batch, which the batches stage must take"
    first, *rest = section["stages"]
    assert first["added_step_us"] is None and first["vs_floor"] == 1.0
    for row in section["stages"]:
        assert 0 < row["seconds_min"] <= row["seconds_median"]
        assert row["step_us"] == pytest.approx(row["seconds_min"] / section["steps"] * 1e6)
    steps = section["steps"]
    for before, row in zip(section["stages"], rest, strict=False):
        assert row["added_step_us"] == pytest.approx((row["seconds_min"] - before["seconds_min"]) / steps * 1e6)
    assert report["floor"]["rounds_between_repeats"] == 1  # a floor round ran between torchprimer's repeats
    text = render(report)
    assert "where torchprimer's epoch goes" in text and "+ Adam's update" in text and "torchprimer / floor" in text
    assert "+ bias, ReLU, loss and their gradients" in text
    alone = render(run_bench(parts=("breakdown",), model="linear", **TINY))
    assert "breakdown part(s) alone" in alone and "(floor)" in alone
    assert "+ bias, loss and their gradients" in alone and "ReLU" not in alone  # the linear model has none
    assert leftovers(private_tmp / "tmp") == []


def test_seed_model_is_the_seeds_network_and_floor_layers_match() -> None:
    model = seed_model(BenchOptions())
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == 784 * 128 + 128 + 128 * 10 + 10
    assert layer_sizes(BenchOptions(hidden=(256, 64))) == [784, 256, 64, 10]
    with pytest.raises(UserError):
        run_bench(repeats=0)


def test_time_to_accuracy_reports_both_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    report = time_to_accuracy("digits", 0.5, max_epochs=2, repeats=1)
    assert set(report["recipes"]) == {"default", "fast"} and "fast_not_worse" in report
    for recipe in report["recipes"].values():
        run = recipe["runs"][0]
        assert run["epochs_planned"] == 2 and len(run["test_accuracy_per_epoch"]) == 2
        assert 0 <= run["final_test_accuracy"] <= 1 and run["seconds_total"] > 0
        if run["reached"]:
            assert run["test_accuracy_per_epoch"][run["epochs_to_target"] - 1] >= 0.5
            assert 0 < run["seconds_to_target"] <= run["seconds_total"]
    assert report["recipes"]["fast"]["recipe"]["schedule"] == "onecycle"
    text = render_tta(report)
    assert "default" in text and "fast" in text and "test accuracy" in text
    json.dumps(report)


def test_time_to_accuracy_from_the_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--target", "0.99999", "--dataset", "digits", "--max-epochs", "1", "--repeats", "1", "--json"])
    assert exit_info.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == "digits" and report["max_epochs"] == 1
    assert all(r["epochs_planned"] == 1 for r in report["recipes"].values())


def test_time_to_accuracy_honours_threads(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--threads with --target sets torch's threads for every run, reports them and puts torch's count back."""
    seen: list[int] = []
    real_run = bench_module.run_recipe

    def spy(*args: object, **kwargs: object) -> dict[str, object]:
        seen.append(torch.get_num_threads())
        return real_run(*args, **kwargs)

    monkeypatch.setattr(bench_module, "run_recipe", spy)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)  # so that a --threads 1 left unhonoured shows, on any machine
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", "--target", "0.1", "--max-epochs", "1", "--repeats", "1", "--threads", "1", "--json"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)
    assert exit_info.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert seen == [1, 1, 1, 1]  # each recipe's untimed warm-up epoch, then its one timed run, all on 1 thread
    assert report["threads"] == 1 and report["device"] == "cpu"
    # the ratio stays a plain number in the JSON (default's seconds over the fast recipe's)
    assert isinstance(report["speedup_to_target"], float) and report["speedup_to_target"] > 0
    assert "1 thread(s)" in render_tta(report)


def tta_report(speedup: float) -> dict[str, object]:
    """A time-to-accuracy report shaped as time_to_accuracy returns it, with a chosen speed-up."""
    run = {"test_samples": 360}
    recipe = {"recipe": {"batch_size": 64, "lr": 1e-3, "schedule": "none"}, "epochs_planned": 5, "reached": 1,
              "runs": [run], "epochs_to_target_median": 3, "seconds_to_target_median": 0.5,
              "final_test_accuracy_mean": 0.97, "seconds_total_median": 0.8}
    return {"dataset": "digits", "target": 0.9, "max_epochs": 5, "repeats": 1, "device": "cpu", "threads": 1,
            "cpu_count": 2, "torch": torch.__version__, "recipes": {"default": recipe, "fast": recipe},
            "fast_not_worse": True, "speedup_to_target": speedup, "wall_seconds": 1.0}


def test_render_tta_says_more_time_when_the_fast_recipe_is_slower() -> None:
    faster = render_tta(tta_report(2.0))
    assert "2.0x less time to the target" in faster and "more time" not in faster
    slower = render_tta(tta_report(0.4))
    assert "2.5x more time to the target" in slower and "less time" not in slower


def test_conv_section_runs_on_the_cpu_at_a_tiny_size(private_tmp: Path) -> None:
    benchmark = torch.backends.cudnn.benchmark
    section = conv_section(64, device="cpu", batch_size=32)
    assert torch.backends.cudnn.benchmark == benchmark  # the conv bench puts cuDNN's autotuning flag back
    (row,) = section["variants"]
    assert row["images"] == 64 and not row["amp"] and row["images_per_s"] > 0
    assert "GPU" in section["note"] and "need a CUDA GPU" in render_conv(section)
    with pytest.raises(UserError):
        conv_images_per_second(8, device="cpu", amp=True)
    report = run_bench(parts=("conv",), conv_images=32, conv_batch=16, repeats=1)
    (row,) = report["conv"]["variants"]
    assert row["images"] == 32 and row["batch_size"] == 16 and "seed" not in report
    assert "conv net" in render(report)
    assert leftovers(private_tmp / "tmp") == []
    if not torch.cuda.is_available():
        with pytest.raises(UserError):
            conv_section(8, device="cuda")


def test_help_shows_a_target_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = capsys.readouterr().out
    assert "--target 0.97 --dataset digits" in out
    # --target's help listed --device, --threads, --max-epochs and --json "only", but --dataset and --repeats go too
    words = " ".join(out.replace("│", " ").split())
    assert "with --dataset, --repeats, --device, --threads, --max-epochs and --json only (the other options" in words


KERNELS_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "kernels.py"


def test_kernel_table_replays_the_fast_step_and_adds_up() -> None:
    """bench/kernels.py at a tiny size: its kernels give bitwise the fast step's gradients (it
    checks that itself and exits 1 otherwise), every row is timed, and the totals are its rows'."""
    done = subprocess.run([sys.executable, str(KERNELS_SCRIPT), "--batch-size", "8", "--samples", "40",
                           "--rounds", "1", "--threads", "1", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["bitwise_as_fast_step"] is True
    assert isinstance(result["transposed_dw1_bitwise"], bool)  # a fact of this BLAS, shown, not promised
    assert result["steps_per_round"] == 5
    rows = result["kernels"]
    assert {row["kind"] for row in rows.values()} == {"product", "other", "for scale"}
    assert all(row["alone"]["1"] > 0 for row in rows.values())
    in_step = {name for name, row in rows.items() if row["in_step"]}
    assert all(rows[name]["in_step"]["1"] > 0 for name in in_step)
    # the step's kernels are timed inside it too; the floor's plain products and the exp are not in the step
    assert {rows[name]["kind"] for name in rows.keys() - in_step} == {"product", "for scale"}
    totals = result["totals_us"]["1"]
    products = sum(row["alone"]["1"] for row in rows.values() if row["kind"] == "product")
    assert totals["products_alone"] == pytest.approx(products)
    assert totals["step_alone"] == pytest.approx(totals["products_alone"] + totals["everything_else_alone"])
    assert totals["step_in_step"] == pytest.approx(sum(rows[name]["in_step"]["1"] for name in in_step))


@pytest.mark.parametrize("args", [["--threads", "0"], ["--threads", "two"], ["--threads", "99999"],
                                  ["--batch-size", "50", "--samples", "10"]])
def test_kernel_table_bad_options_are_one_line_and_exit_2(args: list[str]) -> None:
    done = subprocess.run([sys.executable, str(KERNELS_SCRIPT), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stdout == ""


def test_sigterm_leaves_no_generated_data_behind(tmp_path: Path) -> None:
    """What `timeout`, `docker stop` and Slurm send: the MNIST-size files of a stopped bench stayed in
    /tmp (53 MB each); Ctrl-C removed them. SIGTERM now stops it the same way."""
    import os
    import signal
    import time

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    command = [sys.executable, "-m", "torchprimer", "bench", "--parts", "seed", "--samples", "2000",
               "--repeats", "1000"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("torchprimer-bench-*/**/train-images-idx3-ubyte")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # into the seed's part: `import torchvision` on a slow machine, else its timed loop
    proc.send_signal(signal.SIGTERM)
    err = stderr_after_stop(proc)
    assert proc.returncode == 130 and err.strip().endswith("interrupted"), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("printing", [True, False])
def test_a_stop_that_library_code_swallowed_ends_the_bench_at_the_next_repeat(
    private_tmp: Path, printing: bool,
) -> None:
    """CI's bench ran on after `timeout`'s one SIGTERM until the test killed it: the KeyboardInterrupt had been
    lost on the way. The stop is remembered, and the next repeat (or round) raises it again, --json too."""
    from torchprimer import errors

    seen: list[str] = []

    def log(line: str) -> None:
        seen.append(line)
        if len(seen) == 1:
            errors.ask_to_stop("SIGTERM")  # raised, then swallowed: only the note of it is left

    def quiet_then_asked(opts: BenchOptions, *args: object) -> dict[str, object]:
        errors.ask_to_stop("SIGTERM")
        return seed_part(opts, *args)

    seed_part = bench_module.time_seed
    try:
        with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
            if printing:
                run_bench(parts=("seed", "torchprimer"), n_train=100, n_test=20, repeats=3, log=log)
            else:  # --json prints no progress lines, and stops all the same
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(bench_module, "time_seed", quiet_then_asked)
                    run_bench(parts=("seed", "torchprimer"), n_train=100, n_test=20, repeats=3)
    finally:
        errors.forget_stops()
    assert seen == (["seed loop: repeat 1/3"] if printing else [])
    assert leftovers(private_tmp / "tmp") == []


def test_adams_epoch_cost_counts_its_steps_not_its_samples() -> None:
    """Adam updates once a step, a short last batch included: scaled per sample, an epoch of 1,800 rows at
    batch 4,000 was 0.45 of an update."""
    from torchprimer.bench import time_floor

    opts = BenchOptions(batch_size=4000, hidden=(8,))
    floor = time_floor(opts, torch.device("cpu"), 1800, 1)
    assert floor["adam_seconds"] == floor["adam_step_seconds"]
    floor = time_floor(BenchOptions(batch_size=64, hidden=(8,)), torch.device("cpu"), 1800, 1)
    assert floor["adam_seconds"] == pytest.approx(29 * floor["adam_step_seconds"])  # 28 full batches and 8 rows
