"""§1 AI ⊃ ML ⊃ DL, one member of each at work: the same digits solved by a fixed rule a person
wrote, by classic machine learning and by a deep net (`torchprimer compare`, a quick subset of it)."""

from __future__ import annotations

from torchprimer.lessons.runner import Run, bilingual

SECTION = "1"

TEXT = {
    "en": {
        "title": "AI, machine learning and deep learning",
        "intro": """
The seed: artificial intelligence (AI) is the broad field of making machines imitate human
intelligence; machine learning (ML) is the data-driven methods by which a system improves
its own performance; deep learning (DL) is the subfield of ML built on multi-layer neural
networks. AI ⊃ ML ⊃ DL. The seed states this; the tour puts one member of each set to work
on one split of the handwritten digits. AI without learning: a fixed rule a person wrote,
digit templates drawn as a 5×7 dot-matrix font, each image given the digit whose template it
correlates with best; the rule never sees the training split. Classic ML: the simplest
learner (one average image per class, learned from the training split), logistic regression
and an SVM. Deep learning: a neural network trained by torchprimer.""",
        "verdict": """
Learning from data beats the rule a person wrote by a wide margin: even one average image per
class, the simplest thing a learner can take from data, is far ahead of the hand-drawn
templates. The deep net is one more learner: it is fitted on the same training split and
scored on the same test split as logistic regression and the SVM, and on 8×8 digits it has
no edge over them. Whether depth pays off depends on how well a network's structure fits
the data: convolutions are built for images and signals. This lesson runs no CNN;
`torchprimer compare --dataset NAME` runs the full table, with a random forest, a CNN,
timings and a bar chart, so you can measure that on these digits and on other data. For
reference (published, not measured here): on MNIST-1D a CNN reaches 94% against logistic
regression's 32% (Greydanus & Kobak 2024).""",
        "fixed_title": "The tour runs:",
    },
    "zh": {
        "title": "人工智能、机器学习与深度学习",
        "intro": """
原教程：人工智能（AI）是使机器模拟人类智能的广义领域；机器学习（ML）是通过数据驱动的方法
让系统自动改进性能；深度学习（DL）是基于多层神经网络的机器学习子领域。人工智能 ⊃ 机器学习
⊃ 深度学习。原教程只是陈述，导览让每个集合各出一个成员，在手写数字的同一种划分上一起工作。
不学习的人工智能：一条由人写下的固定规则，即按 5×7 点阵字体画出的数字模板，每张图像归为与它
相关性最高的模板所代表的数字；这条规则从不查看训练集。经典机器学习：最简单的学习器（从训练集
学到每一类的一张平均图像）、逻辑回归和 SVM。深度学习：由 torchprimer 训练的神经网络。""",
        "verdict": """
从数据中学习远远胜过人写下的规则：哪怕只是每一类一张平均图像（学习器能从数据中得到的最简单
的东西），也远远领先于手画的模板。深度网络只是又一个学习器：它和逻辑回归、SVM 一样，在同一份
训练集上拟合，在同一份测试集上评分。在 8×8 的手写数字上，MLP 并不比它们强。深度是否
值得，要看网络结构与数据是否契合：卷积是为图像和信号设计的。本课没有运行 CNN；
`torchprimer compare --dataset NAME` 会给出完整的表格，包括随机森林、CNN、耗时和柱状图，
可以在这些手写数字和其他数据上亲自测量。作为参考（已发表的数字，并非此处测得）：在
MNIST-1D 上，CNN 达到 94%，逻辑回归只有 32%（Greydanus 与 Kobak，2024）。""",
        "fixed_title": "导览运行的是：",
    },
}

SEED = None

FIXED = bilingual(
    """\
from torchprimer.compare import compare, render_table
# one split of the digits; a fixed rule, classic ML and a deep net
table = compare("digits", methods=["templates", "nearest-mean", "logreg", "svc", "mlp"], epochs=20)
print(render_table(table))
""",
    zh={
        "one split of the digits; a fixed rule, classic ML and a deep net":
            "手写数字的同一种划分；固定规则、经典机器学习和深度网络",
    },
)
FIXED["zh"] = FIXED["zh"].replace("render_table(table)", 'render_table(table, lang="zh")')  # the table in Chinese

CHECKS = {
    "same_split": {
        "en": "every method is scored on the same test samples",
        "zh": "所有方法都在同一批测试样本上评分",
    },
    "rule_above_chance": {
        "en": "the fixed rule is above chance (10%): what a person knows of digits is worth something",
        "zh": "固定规则高于随机猜测（10%）：人对数字的认识有一定价值",
    },
    "above_chance": {
        "en": "every method that learns from data is far above chance (10%): at least 80%",
        "zh": "每一种从数据中学习的方法都远高于随机猜测（10%）：至少 80%",
    },
    "learning_beats_rule": {
        "en": "every method that learns from data beats the fixed rule by at least 20 points",
        "zh": "每一种从数据中学习的方法都比固定规则高出至少 20 个百分点",
    },
    "no_free_depth": {
        "en": "on 8×8 digits the MLP has no edge: the best classic method is within 2 points of it or ahead",
        "zh": "在 8×8 手写数字上 MLP 并不占优：最好的经典方法与它相差不到 2 个百分点，或更好",
    },
}


def check(seed: Run | None, fixed: Run | None) -> dict[str, tuple[bool, str | dict[str, str]]]:
    assert fixed is not None
    table = fixed.namespace["table"]
    rows = {r["method"]: r for r in table["rows"]}
    acc = {m: r["accuracy"] for m, r in rows.items()}
    tests = {r["test_samples"] for r in rows.values()}
    rule = acc["templates"]
    learned = {m: a for m, a in acc.items() if m != "templates"}
    best_classic = max(a for m, a in acc.items() if rows[m]["family"] == "classic ML")
    shown = ", ".join(f"{m} {a:.4f}" for m, a in acc.items())
    return {
        "same_split": (tests == {table["sizes"]["test"]}, {
            "en": f"test samples per method: {sorted(tests)}",
            "zh": f"每种方法的测试样本数：{sorted(tests)}",
        }),
        "rule_above_chance": (rule > 0.1, shown),
        "above_chance": (min(learned.values()) >= 0.8, shown),
        "learning_beats_rule": (all(a > rule + 0.2 for a in learned.values()), shown),
        "no_free_depth": (best_classic >= acc["mlp"] - 0.02, {
            "en": f"best classic {best_classic:.4f}, mlp {acc['mlp']:.4f}",
            "zh": f"最好的经典方法 {best_classic:.4f}，mlp {acc['mlp']:.4f}",
        }),
    }
