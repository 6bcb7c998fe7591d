"""The autograd graph behind a tensor as Graphviz DOT text, and drawing it to a file."""
import os
import shutil
import subprocess

from ..autograd import Tensor, _reverse_topological_order
from ..io.files import atomic_path


# ----- the autograd graph ------------------------------------------------------------
def graph(tensor, params=None):
    """The autograd graph behind ``tensor`` as Graphviz DOT source (a string).

    One box per op -- its ``grad_fn.name()`` and output shape -- and one node per leaf
    that requires grad, with its shape.  ``params`` (``dict(model.named_parameters())``
    or the model itself) names the parameters.  Arrows run the way the data flows in the
    forward pass; backward walks them in reverse.  Inputs that need no gradient (a batch
    of images, class targets) are not part of the graph and are not drawn.
    """
    if not isinstance(tensor, Tensor) or tensor.grad_fn is None:
        raise ValueError("minicnn: viz.graph: expected a Tensor computed by ops from tensors "
                         "that require grad (it has a grad_fn); got one without a graph (a leaf, "
                         "or computed under no_grad())")
    if params is not None and not isinstance(params, dict):
        params = dict(params.named_parameters())
    names = {id(p): name for name, p in (params or {}).items()}
    order = list(_reverse_topological_order(tensor.grad_fn))[::-1]     # inputs first
    node = {id(n): f"n{i}" for i, n in enumerate(order)}
    lines = ["digraph autograd {", '  node [fontname="Helvetica", fontsize=10];']
    for n in order:
        if isinstance(n, Tensor):           # a leaf: a parameter or a tensor the user made
            colour = "lightblue" if id(n) in names else "lightgrey"
            label = f"{names.get(id(n), 'tensor')}\\n{n.shape}"
            lines.append(f'  {node[id(n)]} [label="{_escape(label)}", shape=box, style=filled, '
                         f"fillcolor={colour}];")
            continue
        colour = "darkolivegreen1" if n is tensor.grad_fn else "white"    # the output stands out
        lines.append(f'  {node[id(n)]} [label="{n.name()}\\n{n.output_shape}", shape=box, '
                     f'style="rounded,filled", fillcolor={colour}];')
        for parent in n.parents:
            if parent is not None:
                lines.append(f"  {node[id(parent)]} -> {node[id(n)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _escape(label):
    return label.replace('"', '\\"')


class GraphvizNotFound(RuntimeError):
    """Raised by ``render`` when Graphviz's ``dot`` program is not installed."""


def render(dot, path):
    """Draw DOT source into ``path``; the extension picks the format (.svg, .png, .pdf),
    and ``.dot``/``.gv`` writes the source itself.  Drawing needs Graphviz's ``dot``
    program; without it the source is written next to ``path`` (as ``.dot``) and
    ``GraphvizNotFound`` says how to view it.  Returns ``path``."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    ext = ext.lower().lstrip(".")
    if ext in ("dot", "gv"):
        _write_text(path, dot)
        return path
    if ext not in ("svg", "png", "pdf"):
        raise ValueError(f"minicnn: viz.render: cannot tell the format from {path!r}; "
                         "end the name in .svg, .png, .pdf or .dot")
    program = shutil.which("dot")
    if program is None:
        source = _write_text(stem + ".dot", dot)
        raise GraphvizNotFound(
            f"minicnn: viz.render: Graphviz's `dot` program is not installed, so {path} was not "
            f"drawn. The graph's DOT source is in {source}: paste it into an online viewer "
            "(e.g. https://dreampuf.github.io/GraphvizOnline), or install Graphviz "
            "(apt install graphviz / brew install graphviz / conda install graphviz) and run "
            f"`dot -T{ext} {source} -o {path}`")
    with atomic_path(path) as tmp:         # a failed or cut-short drawing leaves no half file
        done = subprocess.run([program, f"-T{ext}", "-o", tmp], input=dot.encode(),
                              capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"minicnn: viz.render: `dot` failed on {path}: "
                               f"{done.stderr.decode(errors='replace').strip()}")
    return path


def _write_text(path, text):
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    return path
