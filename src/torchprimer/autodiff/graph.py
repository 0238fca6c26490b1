"""The autograd graph, drawn by walking `grad_fn.next_functions` from the loss back.

What autograd records during the forward pass is a graph of backward functions
(MulBackward0, AddmmBackward0, ...), each pointing at the ones that made its inputs;
leaves are AccumulateGrad nodes that add into a parameter's `.grad`. Printing it shows
that `loss.backward()` is the chain rule run over exactly this graph.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from torchprimer.errors import UserError
from torchprimer.fileio import check_output_file, write_atomic, write_text
from torchprimer.report import in_language

GRAPHVIZ_INSTALL = "install Graphviz (apt install graphviz, brew install graphviz, or conda install graphviz)"
GRAPHVIZ_INSTALL_ZH = "安装 Graphviz（apt install graphviz、brew install graphviz 或 conda install graphviz）"


def walk(root: Tensor, names: dict[int, str] | None = None) -> dict[str, Any]:
    """Nodes and edges of the backward graph of `root`, in the order a depth-first walk meets them.

    `names` maps id(leaf tensor) to a readable name (e.g. "w", "0.weight"); leaves get
    their name and shape, other nodes the name of their backward function.
    """
    if root.grad_fn is None:
        raise UserError("this tensor has no autograd graph: nothing it depends on requires grad",
                        zh="这个张量没有 autograd 计算图：它所依赖的张量都不需要梯度（requires_grad 都是 False）")
    names = names or {}
    ids: dict[Any, int] = {}
    nodes: list[dict[str, Any]] = []
    edges: list[tuple[int, int]] = []

    def visit(fn: Any) -> int:
        if fn in ids:
            return ids[fn]
        ids[fn] = len(nodes)
        node: dict[str, Any] = {"id": ids[fn], "op": type(fn).__name__}
        variable = getattr(fn, "variable", None)
        if variable is not None:
            node["leaf"] = names.get(id(variable), "tensor")
            node["shape"] = list(variable.shape)
        nodes.append(node)
        for child, _ in fn.next_functions:
            if child is not None:
                edges.append((ids[fn], visit(child)))
        return ids[fn]

    visit(root.grad_fn)
    return {"nodes": nodes, "edges": edges}


TEXT = {
    "en": {
        "leaf": "{leaf} ({shape}) ← {op}",
        "scalar": "scalar",
        "shared": "  (shared, shown above)",
        "wrote": "wrote {files}",
        "legend": ("read from the loss (top) back to the leaves: each node is the backward function of one operation "
                   "of the forward pass (PowBackward0 for ** 2, AddmmBackward0 for a Linear layer); a leaf marked "
                   "← AccumulateGrad is a tensor with requires_grad=True: loss.backward() writes its gradient into "
                   "its .grad. "
                   "Tensors that do not require grad (the seed's target y; a model's data and labels) get no node: no "
                   "gradient is computed for them."),
        "title": "autograd graph",
    },
    "zh": {
        "leaf": "{leaf}（{shape}）← {op}",
        "scalar": "标量",
        "shared": "  （共用的节点，已在上方列出）",
        "wrote": "已写入 {files}",
        "legend": ("从 loss（最上面）往回读到叶子：每个节点是前向计算中一个运算的反向函数（** 2 对应 PowBackward0，"
                   "Linear 层对应 AddmmBackward0）；标着 ← AccumulateGrad 的叶子是 requires_grad=True 的张量，"
                   "loss.backward() 会填好它的 .grad。不需要梯度的张量（原教程例子中的目标值 y；模型的数据和标签）"
                   "没有节点：不会为它们计算梯度。"),
        "title": "autograd 计算图",
    },
}


def _text(lang: str) -> dict[str, str]:
    return in_language(TEXT, lang)


def _label(node: dict[str, Any], lang: str = "en") -> str:
    """A node as the tree and the DOT file show it: its backward function, and for a leaf its name and shape."""
    t = _text(lang)
    if "leaf" in node:
        shape = "×".join(map(str, node["shape"])) or t["scalar"]
        return t["leaf"].format(leaf=node["leaf"], shape=shape, op=node["op"])
    return node["op"]


def legend(lang: str = "en") -> str:
    """How to read the tree `text_tree` prints, for a learner meeting grad_fn for the first time."""
    return _text(lang)["legend"]


def wrote(files: list[str], lang: str = "en") -> str:
    """The line that names the files `graph --out` wrote."""
    return _text(lang)["wrote"].format(files=", ".join(files))


def text_tree(graph: dict[str, Any], lang: str = "en") -> str:
    """The graph as an indented tree from the loss, in English ("en") or Chinese ("zh"); a node met twice
    is marked, not repeated. Backward functions (AddmmBackward0) and parameter names are the same in both."""
    t = _text(lang)
    children: dict[int, list[int]] = {n["id"]: [] for n in graph["nodes"]}
    for parent, child in graph["edges"]:
        children[parent].append(child)
    lines: list[str] = []
    shown: set[int] = set()

    def draw(node_id: int, prefix: str, last: bool, top: bool) -> None:
        node = graph["nodes"][node_id]
        branch = "" if top else ("└── " if last else "├── ")
        again = node_id in shown
        lines.append(prefix + branch + _label(node, lang) + (t["shared"] if again else ""))
        if again:
            return
        shown.add(node_id)
        inner = prefix + ("" if top else ("    " if last else "│   "))
        kids = children[node_id]
        for i, kid in enumerate(kids):
            draw(kid, inner, i == len(kids) - 1, False)

    draw(0, "", True, True)
    return "\n".join(lines)


def _dot_string(text: str) -> str:
    """`text` as a quoted DOT string that reads back as itself: a quote or backslash in a parameter's
    name (a user's own module may have any) is escaped, not changed, and a line break becomes DOT's
    centred \\n. Non-ASCII (×, ←, Chinese) needs no escape: DOT files are UTF-8, Graphviz's default."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: dict[str, Any], title: str | None = None, lang: str = "en") -> str:
    """Graphviz DOT text: arrows point from the loss toward the leaves, as backward runs. Its labels
    read as the printed tree does, in English ("en") or Chinese ("zh"), as does the default title."""
    title = _text(lang)["title"] if title is None else title
    out = [f"digraph {_dot_string(title)} {{", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    for node in graph["nodes"]:
        style = ', style=filled, fillcolor="#cfe8ff"' if "leaf" in node else ""
        out.append(f'  n{node["id"]} [label={_dot_string(_label(node, lang))}{style}];')
    out += [f"  n{a} -> n{b};" for a, b in graph["edges"]]
    out.append("}")
    return "\n".join(out) + "\n"


OUT_SUFFIXES = (".dot", ".gv", ".png", ".svg")


def write_graph(graph: dict[str, Any], path: str | Path, lang: str = "en") -> list[Path]:
    """Write the graph to `path` and only there: DOT text for .dot/.gv, a picture drawn by Graphviz's
    `dot` for .png/.svg, labelled in `lang` as the printed tree is. Returns the files written.

    When the picture cannot be drawn (no Graphviz, or a broken one), the work is kept as DOT text
    in the same name with .dot, but only if no such file exists (it may be the user's own, and
    they did not name it); the UserError says which happened and how to draw the picture later.
    """
    path = check_output_file(path, "--out", OUT_SUFFIXES, "graph.dot")
    suffix = path.suffix.lower()
    text = to_dot(graph, lang=lang)
    if suffix in (".dot", ".gv"):
        return [write_text(path, text)]
    fmt = suffix[1:]
    exe = shutil.which("dot")
    if exe is None:
        kept, kept_zh = _keep_dot(path, text, fmt)
        raise UserError(f"{fmt.upper()} needs Graphviz's `dot`, which is not installed: {GRAPHVIZ_INSTALL} and "
                        f"rerun; {kept}",
                        zh=f"{fmt.upper()} 需要 Graphviz 的 `dot`，但它没有安装：请{GRAPHVIZ_INSTALL_ZH}后重新运行；"
                           f"{kept_zh}")

    def render(tmp: Path) -> None:
        try:
            subprocess.run([exe, f"-T{fmt}", "-o", str(tmp)], input=text, check=True, timeout=60,
                           capture_output=True, text=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:  # a broken Graphviz
            said = getattr(exc, "stderr", None) or ""
            if isinstance(said, bytes):  # a timeout hands over what was said so far undecoded
                said = said.decode(errors="replace")
            said = said.strip().splitlines()
            code = getattr(exc, "returncode", None)
            why = said[0][:120] if said else ("timed out" if code is None else f"exit status {code}")
            why_zh = said[0][:120] if said else ("超时" if code is None else f"退出码 {code}")
            kept, kept_zh = _keep_dot(path, text, fmt)
            raise UserError(f"Graphviz's {exe} could not draw {path.name} ({why}); repair Graphviz; {kept}",
                            zh=f"Graphviz 的 {exe} 无法画出 {path.name}（{why_zh}）；请修复 Graphviz；"
                               f"{kept_zh}") from None

    return [write_atomic(path, render)]


def _keep_dot(picture: Path, text: str, fmt: str) -> tuple[str, str]:
    """Save the DOT text of a picture that could not be drawn beside it, never over an existing file;
    say where it went (or why nowhere) and the command that draws the picture from it, in English and
    in Chinese (called once: a second call would find the file the first wrote)."""
    dot_path = picture.with_suffix(".dot")
    if dot_path.exists():
        return ((f"nothing was written ({dot_path} exists and was left as it is); to keep the graph as text, rerun "
                 f"with --out NAME.dot, and draw it where Graphviz is with `dot -T{fmt} NAME.dot -o {picture.name}`"),
                (f"没有写入任何文件（{dot_path} 已存在，保持原样未动）；要把计算图保存为文本，请用 --out NAME.dot "
                 f"重新运行，再在装有 Graphviz 的地方用 `dot -T{fmt} NAME.dot -o {picture.name}` 画出图来"))
    write_text(dot_path, text)
    return (f"the graph is in {dot_path} (new): open it in any DOT viewer, or draw it later with "
            f"`dot -T{fmt} {dot_path} -o {picture}`",
            f"计算图已保存在 {dot_path}（新文件）：可以用任意 DOT 查看器打开它，或者之后用 "
            f"`dot -T{fmt} {dot_path} -o {picture}` 画出图来")


def seed_example_graph() -> tuple[Tensor, dict[int, str]]:
    """The §7.2 example's loss, with its leaves named x, w, b."""
    x = torch.tensor(2.0, requires_grad=True)
    w = torch.tensor(1.0, requires_grad=True)
    b = torch.tensor(0.5, requires_grad=True)
    y = torch.tensor(3.0)
    loss = (w * x + b - y) ** 2
    return loss, {id(x): "x", id(w): "w", id(b): "b"}


def model_graph(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[int, str]]:
    """A model's loss on a batch, the loss its training uses (cross-entropy; the neuron's binary
    cross-entropy), picked as gradcheck picks it, with its parameters named as in state_dict."""
    from torchprimer.autodiff.check import loss_of_output

    loss_of, _ = loss_of_output(model, x, y, "ce")
    return loss_of(model(x)), {id(p): name for name, p in model.named_parameters()}
