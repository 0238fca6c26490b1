"""`data stats` and `data inspect`: numbers checked against independent computations, and the
CLI's exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from torchprimer import data as tpdata
from torchprimer.cli import main
from torchprimer.data import synthetic
from torchprimer.data.inspection import MAX_FEATURES, covariance, feature_matrix, inspect_dataset, pca, spectrum
from torchprimer.data.stats import IMAGENET_MEAN, IMAGENET_STD, dataset_stats, format_stats


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHPRIMER_CACHE", str(tmp_path / "env-cache"))


def test_stats_on_mnist_format_files(tmp_path):
    synthetic.write_mnist(tmp_path, n_train=300, n_test=60)
    ds = tpdata.load("mnist", tpdata.LoadOptions(data_dir=tmp_path))
    stats = dataset_stats(ds)
    assert stats["splits"] == {"train": 270, "val": 30, "test": 60} and stats["official_test_split"]
    assert stats["input_shape"] == [1, 28, 28] and len(stats["classes"]) == 10
    assert sum(c["total"] for c in stats["classes"]) == 360
    assert [c["test"] for c in stats["classes"]] == torch.bincount(ds.y_test, minlength=10).tolist()
    train_idx, _, _ = tpdata.split_indices(ds)
    pixels = ds.x[train_idx].numpy() / 255.0
    assert stats["channels"]["mean"][0] == pytest.approx(pixels.mean(), abs=1e-6)
    assert stats["channels"]["std"][0] == pytest.approx(pixels.std(), abs=1e-6)
    assert stats["channels"]["min"][0] == pytest.approx(pixels.min()) and stats["channels"]["max"][0] == 1.0
    text = format_stats(stats)
    assert f"mean {stats['channels']['mean'][0]:.4f}" in text and "official test split" in text
    assert "imagenet" not in stats


def test_cifar_stats_show_what_imagenet_constants_do(tmp_path):
    synthetic.write_cifar10(tmp_path, n_train=100, n_test=20)
    ds = tpdata.load("cifar10", tpdata.LoadOptions(data_dir=tmp_path))
    stats = dataset_stats(ds)
    im = stats["imagenet"]
    train_idx, _, _ = tpdata.split_indices(ds)
    x = ds.x[train_idx].double() / 255.0
    # normalise for real with the seed's constants and measure what comes out
    normed = (x - torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    measured_mean = normed.mean(dim=(0, 2, 3))
    measured_std = normed.std(dim=(0, 2, 3), unbiased=False)
    assert np.allclose(im["after_imagenet_mean"], measured_mean.numpy(), atol=1e-5)
    assert np.allclose(im["after_imagenet_std"], measured_std.numpy(), atol=1e-5)
    assert np.allclose(im["data_mean"], x.mean(dim=(0, 2, 3)).numpy(), atol=1e-6)
    text = format_stats(stats)
    assert "ImageNet" in text and "0.4850 0.4560 0.4060" in text


def test_linear_algebra_against_references():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    cov, diff = covariance(x)
    assert diff < 1e-12 and torch.allclose(cov, torch.from_numpy(np.cov(x.numpy(), rowvar=False)))
    info = spectrum(cov)
    eig = np.linalg.eigvalsh(cov.numpy())
    assert np.allclose(info["eigenvalues"].numpy(), eig)
    assert info["condition_number"] == pytest.approx(eig[-1] / eig[0]) and info["rank"] == 6
    scores, explained, s = pca(x)
    assert explained.sum().item() == pytest.approx(1.0)
    assert np.allclose(np.sort(s.numpy() ** 2 / 299)[::-1], eig[::-1])
    assert scores.shape == (300, 2) and scores[:, 0].var().item() == pytest.approx(eig[-1])


def test_inspect_digits_writes_pictures_and_standardising_lowers_the_condition_number(tmp_path):
    out = tmp_path / "insp"
    code = run_main(["data", "inspect", "digits", "--out", str(out)])
    assert code == 0
    for name in ("samples.png", "class_counts.png", "pca.png", "spectrum.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    summary = json.loads((out / "summary.json").read_text())
    before, after = summary["before"]["condition_number"], summary["after"]["condition_number"]
    assert after < before / 100  # digits: about 9.5e5 raw, about 150 standardised
    assert summary["einsum_vs_torch_cov_max_abs_diff"] < 1e-12
    assert summary["svd_vs_eigvalsh_max_rel_diff"] < 1e-8
    assert "condition number" in (out / "summary.txt").read_text()


def test_inspect_tables_and_signals(tmp_path):
    summary = inspect_dataset(tpdata.load("moons", tpdata.LoadOptions(n_samples=200)), tmp_path / "moons")
    assert (tmp_path / "moons" / "samples.png").is_file() and summary["features_used"] == 2
    signals = np.random.default_rng(0).standard_normal((60, 1, 40)).astype(np.float32)
    np.savez(tmp_path / "sig.npz", x=signals, y=np.arange(60) % 3)
    summary = inspect_dataset(tpdata.load(f"npz:{tmp_path / 'sig.npz'}"), tmp_path / "sig")
    assert summary["kind"] == "signal" and (tmp_path / "sig" / "pca.png").is_file()


def test_wide_images_are_pooled_before_the_covariance():
    x = torch.randint(0, 256, (5, 3, 80, 80), dtype=torch.uint8)
    features, note = feature_matrix(x)
    assert features.shape == (5, 3 * 36 * 36) and features.shape[1] <= MAX_FEATURES and "average-pooled" in note
    assert features.dtype == torch.float64 and float(features.max()) <= 1.0


def run_main(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0)


def test_cli_stats_json_and_missing_files_in_process(tmp_path, capsys):
    assert run_main(["data", "stats", "moons", "--n-samples", "200", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["splits"] == {"train": 160, "val": 20, "test": 20}
    assert run_main(["data", "stats", "mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: mnist: missing train-images-idx3-ubyte")
    assert run_main(["data", "stats", "digits"]) == 0
    assert "per-channel statistics" in capsys.readouterr().out
    assert run_main(["data", "list", "--json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert "mnist1d" in names and "imagefolder:PATH" in names and "spirals" in names


def test_cli_bad_name_exits_2_with_one_line_in_a_subprocess(tmp_path):
    env = {**os.environ, "TORCHPRIMER_CACHE": str(tmp_path)}
    bad = subprocess.run([sys.executable, "-m", "torchprimer", "data", "stats", "no-such-set"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "unknown data set 'no-such-set'" in bad.stderr and "digits" in bad.stderr


def test_path_sets_get_their_own_default_inspect_folder(tmp_path, monkeypatch, capsys):
    """Every npz: set went to inspect/npz, the second overwriting the first's pictures."""
    monkeypatch.chdir(tmp_path)
    for stem in ("iris", "wine"):
        synthetic.write_npz(tmp_path / f"{stem}.npz", n=60, seed=len(stem))
        assert run_main(["data", "inspect", f"npz:{stem}.npz", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["files"][0].startswith(os.path.join("inspect", f"npz-{stem}", ""))
    assert sorted(p.name for p in (tmp_path / "inspect").iterdir()) == ["npz-iris", "npz-wine"]


@pytest.mark.parametrize(("name", "slug"), [
    ("digits", "digits"), ("npz:data/iris.npz", "npz-iris"), ("imagefolder:/srv/pets/", "imagefolder-pets"),
    ("csv:my table.v2.csv", "csv-my-table.v2"), ("npz:/", "npz"),
])
def test_file_slug(name, slug):
    assert tpdata.file_slug(name) == slug


def test_stats_and_inspect_take_trains_split_shares(tmp_path, capsys):
    """`train --val-fraction 0.3 --test-fraction 0.2` splits differently from the defaults; the data
    commands showed only the default split's counts and statistics, as no option reached them."""
    from conftest import fails

    assert run_main(["data", "stats", "digits", "--val-fraction", "0.3", "--test-fraction", "0.2", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    splits = tpdata.prepare(tpdata.load("digits", tpdata.LoadOptions()), val_fraction=0.3, test_fraction=0.2)
    assert stats["splits"] == {"train": len(splits.y_train), "val": len(splits.y_val), "test": len(splits.y_test)}
    assert stats["split"] == {"val_fraction": 0.3, "test_fraction": 0.2, "seed": 0}
    assert stats["channels"]["mean"][0] == pytest.approx(float(splits.mean[0]), abs=1e-6)
    assert run_main(["data", "stats", "digits", "--val-fraction", "0.3", "--test-fraction", "0.2"]) == 0
    assert "val 0.3, test 0.2, split seed 0" in capsys.readouterr().out
    assert run_main(["data", "inspect", "digits", "--val-fraction", "0.3", "--out", str(tmp_path / "i"), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert [sum(counts[s]) for s in ("train", "val", "test")] == [1078, 539, 180]
    # What train refuses, these refuse too, in one line.
    assert "leave data to train on" in fails(["data", "stats", "digits", "--val-fraction", "0.6",
                                              "--test-fraction", "0.5"], capsys)
    assert "(0, 1)" in fails(["data", "inspect", "digits", "--val-fraction", "0", "--out", str(tmp_path / "j")], capsys)
    assert "ships its own test split" in fails(["data", "stats", "mnist1d", "--test-fraction", "0.2"], capsys)


@pytest.mark.parametrize(("shares", "empty"), [(["--test-fraction", "0.02"], "test"),
                                               (["--val-fraction", "0.49", "--test-fraction", "0.49"], "training")])
def test_stats_says_when_train_would_refuse_the_split(shares, empty, tmp_path, capsys):
    """stats printed `test 0` (or `train 0`, with a traceback) and exit 0 where `train` refuses the same
    split; it still describes it (exit 0), with train's refusal and its advice beside the counts."""
    from conftest import fails

    argv = ["data", "stats", "moons", "--n-samples", "20", *shares]
    refusal = fails(["train", "--dataset", "moons", "--n-samples", "20", *shares, "--epochs", "1",
                     "--out", str(tmp_path / "runs")], capsys).removeprefix("error: ").strip()
    assert f"the {empty} split of moons would hold no samples" in refusal and "; use --" in refusal
    assert run_main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["train_would_refuse"] == refusal
    assert run_main(argv) == 0
    assert f"note: `torchprimer train` refuses this split: {refusal}\n" in capsys.readouterr().out
    assert run_main(["data", "stats", "moons", "--n-samples", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["train_would_refuse"] is None


@pytest.mark.parametrize(("n", "shares", "expected"), [
    (2, ["--val-fraction", "0.45", "--test-fraction", "0.45"], "would hold no samples"),
    (3, ["--val-fraction", "0.3", "--test-fraction", "0.3"], "holds 1 sample, and a covariance needs at least 2"),
])
def test_inspect_refuses_a_training_split_too_small_for_a_covariance(n, shares, expected, tmp_path, capsys):
    """0 training samples gave an IndexError, 1 a failed eigh (the covariance divides by n - 1)."""
    from conftest import fails

    np.savez(tmp_path / "tiny.npz", x=np.random.default_rng(0).random((n, 4)).astype(np.float32),
             y=np.arange(n) % 2)
    out = tmp_path / "inspect"
    assert expected in fails(["data", "inspect", f"npz:{tmp_path / 'tiny.npz'}", *shares, "--out", str(out)], capsys)
    assert not out.exists()


def test_two_channel_images_are_drawn_from_their_first_channel(tmp_path):
    """Matplotlib draws 1, 3 or 4 channels: samples.png of a 2-channel set stopped with a TypeError."""
    x = np.random.default_rng(0).integers(0, 256, (40, 2, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "two.npz", x=x, y=np.arange(40) % 2)
    ds = tpdata.load(f"npz:{tmp_path / 'two.npz'}", tpdata.LoadOptions(cache_dir=tmp_path / "c"))
    inspect_dataset(ds, tmp_path / "out")
    assert (tmp_path / "out" / "samples.png").stat().st_size > 0


@pytest.mark.parametrize(("n", "dependent"), [(60, True), (3, False)])
def test_svd_and_eigvalsh_are_compared_on_the_eigenvalues_above_zero(n, dependent, tmp_path):
    """A feature that is the sum of two others, or fewer samples than features, leaves eigenvalues that
    are rounding noise around 0: dividing one route's noise by the other's read "matches ... (max rel. diff
    8.0e-02)" and "1.0e+00" for two routes that agree to 1e-15 on every eigenvalue the data has."""
    x = np.random.default_rng(0).standard_normal((n, 6 if dependent else 4)).astype(np.float32)
    if dependent:
        x[:, 5] = x[:, 0] + x[:, 1]
    ds = tpdata.Dataset(name="t", x=torch.from_numpy(x), y=torch.arange(n) % 2, classes=["a", "b"])
    summary = inspect_dataset(ds, tmp_path / "out", val_fraction=0.01 if n == 3 else 0.1, test_fraction=0)
    assert summary["before"]["rank"] == (5 if dependent else summary["samples_used"] - 1)
    assert summary["svd_vs_eigvalsh_max_rel_diff"] < 1e-8


def test_one_feature_has_one_principal_component(tmp_path):
    """With one feature the summary still named a 'PC2 0.0%' that --json's explained_variance does not hold."""
    x = np.random.default_rng(0).standard_normal((40, 1)).astype(np.float32)
    ds = tpdata.Dataset(name="t", x=torch.from_numpy(x), y=torch.arange(40) % 2, classes=["a", "b"])
    summary = inspect_dataset(ds, tmp_path / "out")
    assert len(summary["explained_variance"]) == 1
    assert "PC2" not in summary["text"] and "PC1 explains 100.0%" in summary["text"]


def test_stats_text_shows_small_and_large_features_as_numbers(tmp_path, capsys):
    """Every figure was printed with four decimals: a feature in units of 1e-5 read 'std 0.0000', a constant
    feature to the eye, and one in units of 1e30 as a 31-digit integer."""
    x = np.random.default_rng(0).standard_normal((60, 3))
    x[:, 0] *= 1e-5
    x[:, 2] *= 1e30
    np.savez(tmp_path / "scales.npz", x=x.astype(np.float32), y=np.arange(60) % 2)
    assert run_main(["data", "stats", f"npz:{tmp_path / 'scales.npz'}"]) == 0
    std = next(line.split()[1:] for line in capsys.readouterr().out.splitlines() if line.strip().startswith("std"))
    assert float(std[0]) == pytest.approx(x[:48, 0].std(), rel=0.5) and "e-0" in std[0]  # its order of magnitude
    assert float(std[2]) == pytest.approx(x[:48, 2].std(), rel=0.5) and len(std[2]) < 12
    assert std[1].count(".") == 1 and len(std[1].split(".")[1]) == 4  # ordinary figures keep four decimals


def test_inspect_json_writes_an_infinite_figure_as_the_other_commands_do(tmp_path, capsys):
    """A constant set has no condition number (inf): `data inspect --json` printed null where every other
    command's --json prints "inf", which float() reads back; summary.json on disk keeps null, as files do."""
    np.savez(tmp_path / "flat.npz", x=np.ones((60, 3), np.float32), y=np.arange(60) % 2)
    out = tmp_path / "i"
    assert run_main(["data", "inspect", f"npz:{tmp_path / 'flat.npz'}", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    condition = printed["before"]["condition_number"]
    assert condition == "inf" and float(condition) == float("inf")
    assert json.loads((out / "summary.json").read_text())["before"]["condition_number"] is None


def test_named_classes_keep_their_index_column_aligned():
    """Index and name were right-aligned together, so a longer name pushed its index out of the column
    ("  0 -1" above "   1 1"); now the indices line up and the names start in one column."""
    x = torch.randn(60, 2)
    ds = tpdata.Dataset(name="t", x=x, y=torch.arange(60) % 2, classes=["-1", "1"])
    rows = [line for line in format_stats(dataset_stats(ds)).splitlines() if "total" in line]
    cells = [re.match(r"^( *)(\d+) (\S+) +total", row) for row in rows]
    assert [(m.group(2), m.group(3)) for m in cells] == [("0", "-1"), ("1", "1")]
    assert len({m.end(2) for m in cells}) == 1 and len({m.start(3) for m in cells}) == 1
    assert len({row.index("total") for row in rows}) == 1  # the counts stay in one column


def test_inspect_of_a_constant_set_names_no_smallest_non_zero_eigenvalue(tmp_path, capsys):
    """Every eigenvalue of a constant set is zero: the text said "smallest non-zero 0"."""
    np.savez(tmp_path / "flat.npz", x=np.ones((60, 3), np.float32), y=np.arange(60) % 2)
    assert run_main(["data", "inspect", f"npz:{tmp_path / 'flat.npz'}", "--out", str(tmp_path / "i")]) == 0
    text = capsys.readouterr().out
    assert "smallest non-zero none, rank 0/3, condition number undefined" in text
    assert "smallest non-zero 0," not in text
