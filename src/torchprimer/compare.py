"""`torchprimer compare` (seed §1, AI ⊃ ML ⊃ DL, one member of each at work): one data set, one
split, solved by a fixed rule a person wrote (digit templates, for the digit data sets), by classic
machine learning (a nearest class mean, scikit-learn) and by deep learning (torchprimer's MLP and
CNN through its own training loop), side by side.

Every method sees the same training split and is scored on the same test split, so the
table compares methods and nothing else. Published figures are printed beside the table as
labelled references, never mixed into the measured rows.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchprimer.errors import UserError, brief
from torchprimer.report import counted

FAMILIES = {"rule": "fixed rule", "classic": "classic ML", "deep": "deep learning"}
KNN_K = 5  # neighbours that vote in knn, fewer when the training split is smaller

# name -> (family, what it is)
METHODS: dict[str, tuple[str, str]] = {
    "templates": ("rule", "digit templates drawn by hand (a 5x7 dot-matrix font), the best-correlated one wins: "
                          "nothing learned from data"),
    "nearest-mean": ("classic", "nearest class mean: the simplest learner, one average image per class from "
                                "the training split"),
    "knn": ("classic", f"k-nearest neighbours, k = {KNN_K} (scikit-learn)"),
    "logreg": ("classic", "logistic regression (scikit-learn)"),
    "svc": ("classic", "support vector machine, RBF kernel (scikit-learn)"),
    "forest": ("classic", "random forest, 100 trees (scikit-learn)"),
    "mlp": ("deep", "torchprimer MLP, 128 ReLU units, Adam 1e-3 (the seed's recipe)"),
    "cnn": ("deep", "torchprimer CNN, conv-BN-ReLU blocks, Adam 1e-3"),
}
DEFAULT_METHODS = ("templates", "nearest-mean", "logreg", "svc", "forest", "mlp", "cnn")
TEMPLATE_SETS = ("digits", "mnist")  # data sets whose classes are the handwritten digits 0-9, ink bright
DEEP_METHODS = tuple(name for name, (family, _) in METHODS.items() if family == "deep")  # the ones with --epochs
# knn's description where the training split holds fewer samples than KNN_K (k is then that count)
KNN_FEW = {
    "en": "k-nearest neighbours, k = {k} (scikit-learn; the training split holds only {samples})",
    "zh": "k 近邻，k = {k}（scikit-learn；训练集只有 {n:,} 个样本）",
}

# Published figures (test accuracy), with their sources. Cited beside results, never used as results.
REFERENCES: dict[str, list[tuple[str, float, str]]] = {
    "digits": [
        ("SVC", 0.97, "scikit-learn digits example: first half train, second half test"),
    ],
    "mnist1d": [
        ("logistic regression", 0.32, "Greydanus & Kobak 2024"),
        ("MLP", 0.68, "Greydanus & Kobak 2024"),
        ("CNN", 0.94, "Greydanus & Kobak 2024"),
        ("GRU", 0.91, "Greydanus & Kobak 2024"),
        ("human", 0.96, "Greydanus & Kobak 2024"),
    ],
    "mnist": [
        ("linear classifier", 0.880, "LeCun et al. 1998"),
        ("2-layer NN, 300 hidden", 0.953, "LeCun et al. 1998"),
        ("2-layer NN, 800 hidden, cross-entropy", 0.984, "Simard et al. 2003"),
        ("LeNet-5", 0.9905, "LeCun et al. 1998"),
    ],
    "fashionmnist": [
        ("logistic regression", 0.842, "Xiao et al. 2017, Table 3"),
        ("MLP relu [100]", 0.871, "Xiao et al. 2017, Table 3"),
        ("SVC rbf", 0.897, "Xiao et al. 2017, Table 3"),
        ("two conv layers + pooling", 0.916, "Xiao et al. 2017, Table 3"),
    ],
}

# The ordering the literature (or §1's claim that learning beats a fixed rule) leads us to
# expect: (better, worse, by at least). Checked only for methods that were run.
LEARNERS = ("nearest-mean", "knn", "logreg", "svc", "forest", "mlp", "cnn")
EXPECTED: dict[str, list[tuple[str, str, float]]] = {
    "digits": [(m, "templates", 0.0) for m in LEARNERS],
    "mnist1d": [("cnn", "mlp", 0.10), ("cnn", "logreg", 0.10), ("mlp", "logreg", 0.0)],
}


def _key(name: str) -> str:
    """'Fashion-MNIST', 'fashion_mnist' -> 'fashionmnist': one spelling for lookups."""
    return re.sub(r"[^a-z0-9]", "", name.split(":")[0].lower())


def references(dataset: str) -> list[dict[str, Any]]:
    return [{"method": m, "accuracy": a, "source": s} for m, a, s in REFERENCES.get(_key(dataset), [])]


def parse_methods(text: str | Sequence[str] | None, dataset: str | None = None) -> list[str]:
    """"logreg,svc" -> ["logreg", "svc"]; unknown names are a UserError listing the known ones.

    With `dataset`, the templates (digits only) leave the default list of a data set they do not fit, and
    asking for them there is refused.

    An empty entry ("logreg,,svc", "logreg,") is refused rather than dropped: it is most likely
    a method left out by mistake, and the table would silently lack it (activations --names and
    gradcheck --hidden refuse it alike). A name given twice runs once: its row would be the same.
    """
    fits = dataset is None or _key(dataset) in TEMPLATE_SETS  # whether the digit templates apply
    if text is None:
        return [n for n in DEFAULT_METHODS if n != "templates" or fits]
    names = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    if not any(names):
        raise UserError(f"--methods names no method; give one or more of {', '.join(METHODS)}, separated by commas",
                        zh=f"--methods 没有给出任何方法；请从 {', '.join(METHODS)} 中给出一个或多个，用逗号分隔")
    if not all(names):
        given = text if isinstance(text, str) else ",".join(names)
        raise UserError(f"--methods {given!r} has an empty entry; separate the methods by single commas, "
                        "e.g. logreg,svc", zh=f"--methods {given!r} 中有一项为空；请用单个逗号分隔各个方法，"
                                              "例如 logreg,svc")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise UserError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}",
                        zh=f"未知的方法 {', '.join(unknown)}；已知的方法：{', '.join(METHODS)}")
    if "templates" in names and not fits:
        raise UserError(f"--methods templates draws the digits 0-9, so it applies to {' and '.join(TEMPLATE_SETS)} "
                        f"only, not {dataset}; leave it out",
                        zh=f"--methods templates 画的是数字 0-9，只适用于 {' 和 '.join(TEMPLATE_SETS)}，"
                           f"不适用于 {dataset}；请去掉它")
    return list(dict.fromkeys(names))


def _nearest_mean(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """One template per class seen in training (its mean); predict the class whose template is nearest.

    A class with no training sample gets no template: its mean would be NaN, and argmin takes a NaN as
    the smallest distance, so every test sample went to that class (a tiny npz scored 0.07 where always
    guessing the commonest class scores 0.87). Distances are summed one template at a time, so memory
    is one test-set-sized array, not test × classes × features (1.2 GB for CIFAR-10's test split)."""
    present = np.array([c for c in range(classes) if (y == c).any()])
    means = np.stack([x[y == c].mean(axis=0) for c in present])

    def predict(xt: np.ndarray) -> np.ndarray:
        dist = np.stack([((xt - m) ** 2).sum(axis=1) for m in means], axis=1)
        return present[dist.argmin(axis=1)]

    return predict, int(means.size)


# The fixed rule: what a person who knows digits might write down without seeing the data set. Each
# digit as a 5x7 dot-matrix glyph ('#' ink), the font of old displays and printers.
GLYPHS = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": (".###.", "#...#", "....#", "..##.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
}


def digit_templates(height: int, width: int) -> torch.Tensor:
    """The ten glyphs as (10, height, width) images: each padded to a square with a one-dot margin (the
    handwritten digits fill most of their box, as the glyph then does) and resized with antialiasing."""
    glyphs = torch.tensor([[[dot == "#" for dot in row] for row in GLYPHS[str(d)]] for d in range(10)],
                          dtype=torch.float32)
    square = torch.nn.functional.pad(glyphs, (2, 2, 1, 1))  # 5x7 dots -> 9x9
    return torch.nn.functional.interpolate(square[:, None], size=(height, width), mode="bilinear",
                                           align_corners=False, antialias=True)[:, 0]


def _correlations(x: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of every image with every template: blind to brightness and contrast, so the
    data set's normalisation (computed from its training split) does not reach the rule."""
    def unit(z: torch.Tensor) -> torch.Tensor:
        z = z.flatten(1).double()
        z = z - z.mean(dim=1, keepdim=True)
        return z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)

    return unit(x) @ unit(templates).T


def run_templates(splits: Any) -> dict[str, Any]:
    """The fixed rule on the test split: each image gets the digit whose template it correlates with best.
    The training split is not looked at; the 350 dots of the glyphs are the rule's only numbers."""
    x_test = splits.x_test.cpu()
    predicted = _correlations(x_test, digit_templates(*x_test.shape[-2:])).argmax(dim=1)
    accuracy = float((predicted == splits.y_test.cpu()).double().mean())
    # nothing is trained, so no training seconds
    return {"accuracy": accuracy, "seconds": 0.0, "parameters": sum(len(r) for r in GLYPHS["0"]) * len(GLYPHS)}


def _forest_size(forest: Any, classes: int) -> int:
    """Numbers a forest stores to predict: (feature, threshold) per split, class counts per leaf."""
    total = 0
    for tree in forest.estimators_:
        leaves = int((tree.tree_.children_left == -1).sum())
        total += 2 * (tree.tree_.node_count - leaves) + classes * leaves
    return total


def knn_k(n_train: int) -> int:
    """The k knn uses: KNN_K, or every training sample where there are fewer (k cannot exceed the voters)."""
    return min(KNN_K, n_train)


def _sklearn(name: str, seed: int, n_train: int) -> Any:
    """A fresh scikit-learn estimator; each import is paid only by the method that needs it."""
    if name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=knn_k(n_train))
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000)
    if name == "svc":
        from sklearn.svm import SVC

        return SVC(kernel="rbf")
    from sklearn.ensemble import RandomForestClassifier

    # scikit-learn takes a random_state below 2**32, and --seed goes to 2**63 - 1 as torch's does: a larger
    # seed once stopped the default table at the forest, blamed on "a larger data set"
    return RandomForestClassifier(n_estimators=100, random_state=seed % 2**32, n_jobs=1)


def _parameter_count(name: str, model: Any, classes: int) -> int:
    if name == "knn":
        return int(model._fit_X.size)  # it stores the training set itself
    if name == "logreg":
        return int(model.coef_.size + model.intercept_.size)
    if name == "svc":
        return int(model.support_vectors_.size + model.dual_coef_.size + model.intercept_.size)
    return _forest_size(model, classes)


def run_classic(name: str, splits: Any, seed: int) -> dict[str, Any]:
    """Fit one scikit-learn method (or the nearest class mean) on the training split; score it on the test split."""
    x_train = splits.x_train.flatten(1).cpu().numpy()
    y_train = splits.y_train.cpu().numpy()
    x_test = splits.x_test.flatten(1).cpu().numpy()
    y_test = splits.y_test.cpu().numpy()
    model = None if name == "nearest-mean" else _sklearn(name, seed, len(y_train))  # imports outside the timing
    started = time.perf_counter()
    if model is None:
        predict, params = _nearest_mean(x_train, y_train, splits.num_classes)
        seconds = time.perf_counter() - started
    else:
        try:
            model.fit(x_train, y_train)
        except ValueError as exc:
            raise _refusal(name, exc, splits) from None
        seconds = time.perf_counter() - started
        predict, params = model.predict, _parameter_count(name, model, splits.num_classes)
    accuracy = float((predict(x_test) == y_test).mean())
    measured: dict[str, Any] = {"accuracy": accuracy, "seconds": seconds, "parameters": params}
    if name == "knn" and model.n_neighbors != KNN_K:
        measured["description"] = KNN_FEW["en"].format(k=model.n_neighbors, n=len(y_train),
                                                        samples=counted(len(y_train), "sample"))
    return measured


def _refusal(name: str, exc: ValueError, splits: Any) -> UserError:
    """The refusal for a scikit-learn estimator that refused the training split, naming the actual cause,
    in one line of English and one of Chinese (scikit-learn's own words stay as they are in both).

    Every refusal used to read "cannot learn from the N training samples ... use a larger data set",
    which sent a user with thousands of samples hunting for more data. The one cause compare can
    name for certain is a training split of one class (logreg and svc need two; the data sets
    themselves are refused earlier when all their labels are one), which more data or another split
    fixes. Anything else is scikit-learn's own reason, quoted, with the method named."""
    y_train = splits.y_train.cpu()
    present = torch.unique(y_train).tolist()
    if len(present) == 1:
        elsewhere = sorted(set(torch.cat([splits.y_val.cpu(), splits.y_test.cpu()]).tolist()) - set(present))
        listed = " and ".join([", ".join(map(str, elsewhere[:-1])), str(elsewhere[-1])] if len(elsewhere) > 1
                              else map(str, elsewhere))  # "1, 2 and 3": the list of fixes follows it
        listed_zh = "、".join(map(str, elsewhere))
        others, others_zh = f"class{'es' if len(elsewhere) > 1 else ''} {listed}", f"类别 {listed_zh}"
        where, fix = ((f"; {others} fell only in the validation and test splits",
                       f"use a data set with more samples of {others}, try another --seed (it draws the split)")
                      if elsewhere else ("", "use a data set with samples of two or more classes"))
        where_zh, fix_zh = ((f"；{others_zh} 只出现在验证集和测试集中",
                             f"请改用含有更多{others_zh} 样本的数据集、换一个 --seed（它决定数据的划分）")
                            if elsewhere else ("", "请改用含有两个或更多类别样本的数据集"))
        samples, samples_zh = counted(len(y_train), "sample"), f"{len(y_train):,} 个样本"
        return UserError(f"method {name} needs at least two classes to learn from, but the training split of "
                         f"{splits.name} holds class {present[0]} only ({samples}{where}); {fix}, or leave {name} out",
                         zh=f"方法 {name} 至少需要两个类别才能学习，但 {splits.name} 的训练集只有类别 {present[0]}"
                            f"（{samples_zh}{where_zh}）；{fix_zh}，或者去掉 {name}")
    return UserError(f"method {name} (scikit-learn) refused the training split of {splits.name}: {brief(exc)}; "
                     f"check the data (`torchprimer data stats {splits.name}`) or leave {name} out",
                     zh=f"方法 {name}（scikit-learn）拒绝了 {splits.name} 的训练集：{brief(exc)}；"
                        f"请检查数据（`torchprimer data stats {splits.name}`），或者去掉 {name}")


def run_deep(name: str, splits: Any, *, epochs: int, seed: int, device: str) -> dict[str, Any]:
    """Train torchprimer's MLP or CNN with its own loop (`fit`) on the same split."""
    from torchprimer.models import build_model, count_parameters, objective_for
    from torchprimer.progress import Silent
    from torchprimer.training.config import make_config
    from torchprimer.training.loop import evaluate, fit
    from torchprimer.training.run import seed_everything

    # The weights of the epoch with the lowest validation loss, as the help promises (a patience of
    # `epochs` never stops the run early; it only makes fit keep and restore the best epoch's state).
    cfg = make_config(dataset=splits.name, model=name, epochs=epochs, seed=seed, device=device,
                      early_stopping=epochs)
    seed_everything(seed)
    model = build_model(cfg.model_spec, splits.input_shape, splits.num_classes,  # compare has no model options
                        "use a data set of smaller inputs",
                        too_big_advice_zh="请换一个输入更小的数据集").to(splits.x_train.device)
    objective = objective_for(model)
    # The first optimizer built in a process imports torch._dynamo (seconds on a slow disk):
    # a one-time library cost, not training, so pay it before the clock starts.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    started = time.perf_counter()
    fit(model, splits, cfg, objective, Silent())
    seconds = time.perf_counter() - started
    test = evaluate(model, splits.x_test, splits.y_test, objective)
    return {"accuracy": test["accuracy"], "seconds": seconds, "parameters": count_parameters(model)}


@contextlib.contextmanager
def one_cpu_thread_everywhere() -> Iterator[None]:
    """torch, BLAS and OpenMP on one CPU thread while the methods run.

    Every method then gets the same CPU budget, so the seconds compare methods rather than
    how well each library spreads tiny work over cores (on a busy machine, threads on
    64-wide layers cost many times the work itself), and the timings are reproducible.
    """
    from threadpoolctl import threadpool_limits

    from torchprimer.autodiff.check import one_cpu_thread

    with threadpool_limits(limits=1), one_cpu_thread():
        yield


def ordering_checks(dataset: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The expected ordering (better > worse + margin) for the methods that were run."""
    acc = {r["method"]: r["accuracy"] for r in rows}
    checks = []
    for better, worse, margin in EXPECTED.get(_key(dataset), []):
        if better in acc and worse in acc:
            claim = f"{better} > {worse}" + (f" + {margin:.2f}" if margin else "")
            checks.append({
                "claim": claim, "ok": acc[better] > acc[worse] + margin,
                "values": f"{acc[better]:.4f} vs {acc[worse]:.4f}",
            })
    return checks


def compare(
    dataset: str = "digits",
    *,
    methods: str | Sequence[str] | None = None,
    epochs: int = 20,
    seed: int = 0,
    device: str = "cpu",
    val_fraction: float = 0.1,
    test_fraction: float = 0.5,
    on_method: Callable[[str], None] | None = None,
    options: Any = None,
) -> dict[str, Any]:
    """Run every method on one split of `dataset` and return the table as plain data.

    `test_fraction` applies only where the data set has no official test split; half the
    data for testing follows scikit-learn's digits protocol the reference figure uses.
    `on_method(name)` is called as each method starts, so a caller can show progress;
    `options` (a `torchprimer.data.LoadOptions`) says where file-backed data sets live.
    """
    from torchprimer import data as tpdata
    from torchprimer.training.config import resolve_device

    names = parse_methods(methods, dataset)
    if epochs < 1:
        raise UserError(f"--epochs {epochs} must be at least 1", zh=f"--epochs {epochs} 必须至少为 1")
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise UserError(f"--val-fraction {val_fraction:g} and --test-fraction {test_fraction:g} must each be in "
                        "(0, 1) and leave data to train on (together < 1)",
                        zh=f"--val-fraction {val_fraction:g} 和 --test-fraction {test_fraction:g} 都必须在 "
                           "(0, 1) 之内，并且要给训练留下数据（两者之和 < 1）")
    where = resolve_device(device)
    loaded = tpdata.load(dataset, options)
    splits = tpdata.prepare(loaded, val_fraction=val_fraction, test_fraction=test_fraction,
                            split_seed=seed, device=where)
    rows = []
    with one_cpu_thread_everywhere():
        for name in names:
            family, description = METHODS[name]
            if on_method is not None:
                on_method(name)
            if name == "templates":
                measured = run_templates(splits)
            elif family == "deep":
                measured = run_deep(name, splits, epochs=epochs, seed=seed, device=str(where))
            else:
                measured = run_classic(name, splits, seed)
            rows.append({"method": name, "family": FAMILIES[family], "description": description, **measured,
                         "test_samples": len(splits.y_test)})
    checks = ordering_checks(dataset, rows)
    return {
        "dataset": dataset,
        "source": loaded.source,
        "input_shape": list(splits.input_shape),
        "sizes": splits.sizes(),
        "device": str(where),
        "seed": seed,
        "epochs": epochs,
        "rows": rows,
        "references": references(dataset),
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
    }


TABLE_TEXT = {
    "en": {
        "split": "{dataset}: train {train:,}, validation {val:,}, test {test:,}; input {shape}; device {device} "
                 "(CPU work on one thread); seed {seed}",
        "header": ("method", "family", "test accuracy", "train s", "parameters"),
        "best": "{deep}: the best of {epochs} epochs by validation loss",
        "best_one": "{deep}: the weights after its one epoch",
        "forest": "a forest's parameters: its split and leaf values",
        "templates": "templates: nothing trained, its parameters are the dots of the glyphs, drawn by hand",
        "published": "Published figures (references from the literature, not measured here; protocols differ):",
        "ordering": "Expected ordering:",
        "families": FAMILIES,
        "running": "running {method} ...",
        "chart": "bar chart: {path}",
    },
    "zh": {
        "split": "{dataset}：训练 {train:,}，验证 {val:,}，测试 {test:,}；输入 {shape}；设备 {device}"
                 "（CPU 上单线程）；随机种子 {seed}",
        "header": ("方法", "类别", "测试准确率", "训练秒数", "参数量"),
        "best": "{deep}：{epochs} 轮中验证损失最低那一轮的权重",
        "best_one": "{deep}：训练 1 轮后的权重",
        "forest": "随机森林的参数：它的划分值和叶子值",
        "templates": "templates：不做任何训练，它的参数是人手画出的字形点阵",
        "published": "已发表的数字（文献中的参考值，并非此处测得；实验设定各不相同）：",
        "ordering": "预期的排序：",
        "families": {"rule": "固定规则", "classic": "经典机器学习", "deep": "深度学习"},
        "running": "正在运行 {method} ……",
        "chart": "柱状图：{path}",
    },
}


def render_table(result: dict[str, Any], lang: str = "en") -> str:
    """The comparison as aligned text: measured rows, then the published references, then checks;
    in English or Chinese (the tour's §1 in Chinese). Method names, citations and the checks'
    comparisons stay as they are: they are names and formulas."""
    from torchprimer.report import in_language

    t = in_language(TABLE_TEXT, lang)
    family_name = {FAMILIES[key]: t["families"][key] for key in FAMILIES}
    sizes = result["sizes"]
    lines = [
        t["split"].format(dataset=result["dataset"], train=sizes["train"], val=sizes["val"], test=sizes["test"],
                          shape=tuple(result["input_shape"]), device=result["device"], seed=result["seed"]),
        "",
        _row(t["header"]),
    ]
    for r in result["rows"]:
        lines.append(_row((r["method"], family_name[r["family"]], f"{r['accuracy']:.4f}", f"{r['seconds']:.2f}",
                           f"{r['parameters']:,}")))
    deep = [r["method"] for r in result["rows"] if r["family"] == FAMILIES["deep"]]
    best = t["best_one"] if result["epochs"] == 1 else t["best"]
    notes = [best.format(deep=", ".join(deep), epochs=result["epochs"])] if deep else []
    for method in ("forest", "templates"):
        if any(r["method"] == method for r in result["rows"]):
            notes.append(t[method])
    notes += [_description(r, sizes["train"], lang) for r in result["rows"]
              if r["description"] != METHODS[r["method"]][1]]
    if notes:
        lines.append(f"({'; '.join(notes)})" if lang == "en" else f"（{'；'.join(notes)}）")
    if result["references"]:
        lines += ["", t["published"]]
        width = max(len(r["method"]) for r in result["references"])
        lines += [f"  {r['method']:<{width}}  {r['accuracy']:.4f}  {r['source']}" for r in result["references"]]
    if result["checks"]:
        lines += ["", t["ordering"]]
        values = "({})" if lang == "en" else "（{}）"
        lines += [f"  {'PASS' if c['ok'] else 'FAIL'}  {c['claim']}  {values.format(c['values'])}"
                  for c in result["checks"]]
    return "\n".join(lines) + "\n"


def message(key: str, lang: str = "en", **values: Any) -> str:
    """One of the command's lines around the table ("running", "chart") in `lang`, as the table speaks it."""
    from torchprimer.report import in_language

    return in_language(TABLE_TEXT, lang)[key].format(**values)


def _description(row: dict[str, Any], n_train: int, lang: str) -> str:
    """A row's own description (knn's reduced k) in `lang`; the JSON keeps the English one."""
    if lang == "en" or row["method"] != "knn":
        return row["description"]
    return KNN_FEW[lang].format(k=knn_k(n_train), n=n_train, samples=counted(n_train, "sample"))


def _row(cells: tuple[str, ...]) -> str:
    """One line of the table: method and family padded left, the figures right, by display width
    (a Chinese character takes two columns)."""
    from torchprimer.report import pad

    widths = (13, 14, 13, 8, 11)
    return " ".join(pad(cell, width, right=i >= 2) for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))


def plot(result: dict[str, Any], path: str | Path) -> Path:
    """Bar chart of test accuracy, coloured by family, with published figures as labelled lines."""
    from torchprimer.report import figures, save_figure

    plt = figures()
    rows = result["rows"]
    colours = {FAMILIES["rule"]: "#999999", FAMILIES["classic"]: "#4c72b0", FAMILIES["deep"]: "#dd8452"}
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(rows) + 2), 4))
    bars = ax.bar([r["method"] for r in rows], [r["accuracy"] for r in rows],
                  color=[colours[r["family"]] for r in rows])
    for bar, r in zip(bars, rows, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() - 0.02, f"{r['accuracy']:.3f}\n{r['seconds']:.1f}s",
                ha="center", va="top", fontsize=8, color="white")
    # published figures: dotted lines, labelled in the margin so they never cover a bar
    label_y = -1.0
    for ref in sorted(result["references"], key=lambda r: r["accuracy"]):
        ax.axhline(ref["accuracy"], color="black", lw=0.6, ls=":")
        label_y = max(ref["accuracy"], label_y + 0.045)  # close figures: stack their labels
        ax.text(1.01, label_y, f"published, not measured: {ref['method']} {ref['accuracy']:.2f}",
                transform=ax.get_yaxis_transform(), va="center", fontsize=7)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    ax.legend(handles, list(colours), loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, fontsize=8,
              frameon=False)
    ax.set(ylim=(0, 1.05), ylabel="test accuracy",
           title=f"{result['dataset']}: same split, test n = {result['sizes']['test']}")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)
