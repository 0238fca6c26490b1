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
from torchprimer.fileio import write_atomic, write_text

GRAPHVIZ_HINT = (
    "install Graphviz (apt install graphviz, brew install graphviz, or conda install graphviz) and rerun, "
    "or render the DOT file yourself with `dot -Tpng FILE.dot -o FILE.png`"
)


def walk(root: Tensor, names: dict[int, str] | None = None) -> dict[str, Any]:
    """Nodes and edges of the backward graph of `root`, in the order a depth-first walk meets them.

    `names` maps id(leaf tensor) to a readable name (e.g. "w", "0.weight"); leaves get
    their name and shape, other nodes the name of their backward function.
    """
    if root.grad_fn is None:
        raise UserError("this tensor has no autograd graph: nothing it depends on requires grad")
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


def _label(node: dict[str, Any]) -> str:
    if "leaf" in node:
        shape = "×".join(map(str, node["shape"])) or "scalar"
        return f"{node['leaf']} ({shape}) ← {node['op']}"
    return node["op"]


def text_tree(graph: dict[str, Any]) -> str:
    """The graph as an indented tree from the loss; a node met twice is marked, not repeated."""
    children: dict[int, list[int]] = {n["id"]: [] for n in graph["nodes"]}
    for parent, child in graph["edges"]:
        children[parent].append(child)
    lines: list[str] = []
    shown: set[int] = set()

    def draw(node_id: int, prefix: str, last: bool, top: bool) -> None:
        node = graph["nodes"][node_id]
        branch = "" if top else ("└── " if last else "├── ")
        again = node_id in shown
        lines.append(prefix + branch + _label(node) + ("  (shared, shown above)" if again else ""))
        if again:
            return
        shown.add(node_id)
        inner = prefix + ("" if top else ("    " if last else "│   "))
        kids = children[node_id]
        for i, kid in enumerate(kids):
            draw(kid, inner, i == len(kids) - 1, False)

    draw(0, "", True, True)
    return "\n".join(lines)


def to_dot(graph: dict[str, Any], title: str = "autograd graph") -> str:
    """Graphviz DOT text: arrows point from the loss toward the leaves, as backward runs."""
    out = [f'digraph "{title}" {{', "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
    for node in graph["nodes"]:
        style = ', style=filled, fillcolor="#cfe8ff"' if "leaf" in node else ""
        label = _label(node).replace('"', "'")
        out.append(f'  n{node["id"]} [label="{label}"{style}];')
    out += [f"  n{a} -> n{b};" for a, b in graph["edges"]]
    out.append("}")
    return "\n".join(out) + "\n"


def write_graph(graph: dict[str, Any], path: str | Path) -> list[Path]:
    """Write DOT to path (or beside it); render .png/.svg with Graphviz's `dot` when installed.

    Returns the files written. Asking for a picture without Graphviz writes the DOT file
    and raises a UserError that says how to install it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".dot", ".gv", ".png", ".svg"):
        raise UserError(f"--out {path}: use a .dot (or .gv), .png or .svg file name")
    dot_path = path if suffix in (".dot", ".gv") else path.with_suffix(".dot")
    written = [write_text(dot_path, to_dot(graph))]
    if suffix in (".png", ".svg"):
        exe = shutil.which("dot")
        if exe is None:
            raise UserError(f"wrote {dot_path}, but {suffix[1:].upper()} needs Graphviz's `dot`: {GRAPHVIZ_HINT}")

        def render(tmp: Path) -> None:
            try:
                subprocess.run([exe, f"-T{suffix[1:]}", str(dot_path), "-o", str(tmp)], check=True, timeout=60,
                               capture_output=True, text=True)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:  # a broken Graphviz
                said = (getattr(exc, "stderr", None) or "").strip().splitlines()
                why = said[0][:120] if said else f"exit {getattr(exc, 'returncode', 'timeout')}"
                raise UserError(f"Graphviz's {exe} could not draw {path.name} ({why}); the graph is in "
                                f"{dot_path}: repair Graphviz, or open the DOT file in any DOT viewer") from None

        written.append(write_atomic(path, render))
    return written


def seed_example_graph() -> tuple[Tensor, dict[int, str]]:
    """The §7.2 example's loss, with its leaves named x, w, b."""
    x = torch.tensor(2.0, requires_grad=True)
    w = torch.tensor(1.0, requires_grad=True)
    b = torch.tensor(0.5, requires_grad=True)
    y = torch.tensor(3.0)
    loss = (w * x + b - y) ** 2
    return loss, {id(x): "x", id(w): "w", id(b): "b"}


def model_graph(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[int, str]]:
    """A model's cross-entropy loss on a batch, with its parameters named as in state_dict."""
    loss = nn.functional.cross_entropy(model(x), y)
    return loss, {id(p): name for name, p in model.named_parameters()}
