"""The docs run as written.

* Every ```python block of README.md and of every page under docs/ runs, in order, in one
  namespace per page, in an empty temporary folder -- as a reader copying them into a
  session would.  Blocks that import torch are skipped (with the rest of the page) when
  PyTorch is not installed.  An example that can use a GPU picks the device at run time
  (``mc.cuda.is_available()``) and runs on the CPU here; a block that only sets up a GPU
  is marked ``<!-- needs: gpu -->`` on the line above it and, without a GPU, is only
  parsed.  One needing downloaded weights is preceded on its page by a block writing a
  stand-in file with the same keys, or is marked ``<!-- needs: weights -->``: it then runs
  against a local HTTP server (tests/local_server.py) serving stand-in weights (random,
  torchvision's keys) for each torchvision model the block builds by name.  A block
  marked ``<!-- needs: internet -->`` (real downloads: the datasets, gigabytes of weights)
  is only parsed; what it calls is tested against the local server in tests/models and
  tests/data.  No block reaches the internet: every page runs with the local server's
  guard on.
* Every command in docs/lecture-notes.md prints the figures quoted next to it; every row
  names its source, and each quote of the lecture material is in the file it names.
* README.md links every page of docs/, its layout table covers the tree, and its gradcheck
  example fails when a backward is wrong.
"""
import contextlib
import glob
import importlib.util
import io
import os
import re
import shlex

import pytest

import minicnn as mc
import minicnn.distributed as dist
from minicnn.cli import main
from minicnn.gradcheck import GradcheckError
from tests.local_server import local_server, serve_torchvision_weights  # noqa: F401

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
DOCS = os.path.join(ROOT, "docs")
PAGES = ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in
                               glob.glob(os.path.join(DOCS, "**", "*.md"), recursive=True))
# Blocks that are not examples to run, with the reason (page -> {block index: reason}).
NOT_EXAMPLES = {}


def read(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return f.read()


def python_blocks(page):
    """[(code, needs)]: needs is "gpu", "weights" or "internet" for a block marked
    <!-- needs: ... --> just above it."""
    return [(code, needs or None) for needs, code in re.findall(
        r"^(?:<!-- needs: (gpu|weights|internet) -->\n)?```python\n(.*?)^```", read(page),
        flags=re.S | re.M)]


def stand_in_weights(server, monkeypatch):
    """``serve(source)``: stand-in weights on ``server`` for each torchvision model that
    ``source`` builds (``models.NAME(``)."""
    from minicnn.models.weights_table import WEIGHTS

    def serve(source):
        for name in sorted(set(re.findall(r"models\.(\w+)\(", source)) & set(WEIGHTS)):
            serve_torchvision_weights(server, monkeypatch, name)
    return serve


def run_blocks(page, blocks, namespace=None, serve_weights=None):
    namespace = {"__name__": "__doc_example__"} if namespace is None else namespace
    skipped = NOT_EXAMPLES.get(page, {})
    for i, (source, needs) in enumerate(blocks):
        code = compile(source, f"{page}, python block {i}", "exec")    # every block must parse
        if i in skipped or (needs == "gpu" and not mc.cuda.is_available()):
            continue                  # a GPU-only block (device setup) where there is no GPU
        if needs == "internet":
            continue                  # real downloads: parsed only
        needs_torch = re.search(r"^\s*import torch", source, flags=re.M) is not None
        if (needs_torch or needs == "weights") and importlib.util.find_spec("torch") is None:
            pytest.skip(f"{page}: block {i} and the rest need PyTorch")
        if needs == "weights":
            serve_weights(source)
        exec(code, namespace)
    return namespace


@pytest.fixture
def own_kernel_registry(monkeypatch):
    """A page may register kernels (docs/architecture.md registers a toy one): they go into a
    copy of the dispatch registry, dropped after the test, so other tests never see them."""
    from minicnn import dispatch
    dispatch.names()                        # load the fast kernels first: they stay registered
    monkeypatch.setattr(dispatch, "_registry", {k: dict(v) for k, v in dispatch._registry.items()})
    return dispatch


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)])
def test_examples_run(page, tmp_path, monkeypatch, own_kernel_registry, local_server):
    blocks = python_blocks(page)
    monkeypatch.chdir(tmp_path)
    try:
        namespace = run_blocks(page, blocks,
                               serve_weights=stand_in_weights(local_server, monkeypatch))
    finally:    # docs/distributed.md joins a process group: leave the process as it was found
        if dist.is_initialized():
            dist.destroy_process_group()
    if page.endswith("training.md"):       # what the guide says fit wrote, and the resumed history
        assert {"checkpoint.npz", "curves.png", "metrics.jsonl"} <= set(
            os.listdir(tmp_path / "runs" / "digits"))
        assert [r["epoch"] for r in namespace["history"]] == [1, 2, 3, 4]
    if page.endswith("transfer-learning.md"):
        check_transfer_results(read(page), namespace["accuracy"])


def test_architecture_kernel_example_prints_what_the_page_says(tmp_path, monkeypatch, capsys,
                                                              own_kernel_registry):
    """docs/architecture.md's "Registering a new kernel" block runs (nothing on the page is
    skipped), registers both versions, and the Numba one is picked, as the text after it says."""
    page = os.path.join("docs", "architecture.md")
    blocks = python_blocks(page)
    assert blocks and not NOT_EXAMPLES.get(page)
    monkeypatch.chdir(tmp_path)
    namespace = run_blocks(page, blocks)
    claimed = re.search(r"which prints `([^`]+)`", read(page)).group(1)
    assert capsys.readouterr().out.strip() == claimed
    assert set(own_kernel_registry.implementations("square")) == {"numpy", "numba"}
    x = namespace["np"].linspace(-2, 2, 7)
    assert (namespace["square_numba"](x) == x ** 2).all()


def check_transfer_results(text, accuracy):
    """The guide's table of results is what its example measures (within a few test images:
    BLAS rounding may move a prediction or two between machines)."""
    quoted = dict(re.findall(r"^\| (.+?) \| (\d+\.\d)% \|$", text, flags=re.M))
    assert set(quoted) == set(accuracy), (quoted, accuracy)
    for name, value in accuracy.items():
        assert abs(100 * value - float(quoted[name])) <= 3.0, (name, value, quoted[name])


# ----- docs/lecture-notes.md: every command prints the figures quoted next to it ---------
def lecture_rows():
    """(figures, command) for every table row of lecture-notes.md that names a command."""
    rows, columns = [], None
    for line in read(os.path.join("docs", "lecture-notes.md")).splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            columns = cells
            continue
        if all(re.fullmatch(r":?-+:?", c) for c in cells) or "command" not in columns:
            continue
        command = re.findall(r"`(python [^`]+)`", cells[columns.index("command")])
        if command:
            figures = re.findall(r"`([^`]+)`", cells[columns.index("minicnn")])
            rows.append((figures, command[0]))
    return rows


_outputs = {}


def run_command(command):
    """The output of ``python -m minicnn ...`` or ``python -c "..."``, run in this process."""
    if command not in _outputs:
        argv = shlex.split(command)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            if argv[:3] == ["python", "-m", "minicnn"]:
                assert main(argv[3:]) == 0, command
            else:
                assert argv[:2] == ["python", "-c"], command
                exec(argv[2], {"__name__": "__main__"})
        _outputs[command] = out.getvalue()
    return _outputs[command]


SEED_FILE = r"\d{3}_[0-9a-f]{16}\.txt"
NOT_FROM_THE_LECTURE = ("**paper, not in the lecture material**", "**not in the lecture material**")


def lecture_sources():
    """(first cell, [(seed file, [quoted words])]) for every table row of lecture-notes.md
    below a "lecture" header: each seed file named in the cell, with the backticked quotes
    that follow it (up to the next file named)."""
    rows, header = [], None
    for line in read(os.path.join("docs", "lecture-notes.md")).splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        if all(re.fullmatch(r":?-+:?", c) for c in cells) or not header[0].startswith("lecture"):
            continue
        spans = re.findall(r"`([^`]+)`", cells[0])
        cited, quotes = [], None
        for span in spans:
            if re.fullmatch(SEED_FILE, span):
                quotes = []
                cited.append((span, quotes))
            elif quotes is not None:
                quotes.append(span)
        rows.append((cells[0], cited))
    return rows


def seeds_folder():
    """The lecture material: $MINICNN_LECTURE_SEEDS, or ../shared/seeds beside the checkout
    (or beside its parent, for a git worktree), or None."""
    candidates = [os.environ.get("MINICNN_LECTURE_SEEDS", ""),
                  os.path.join(ROOT, os.pardir, "shared", "seeds"),
                  os.path.join(ROOT, os.pardir, os.pardir, "shared", "seeds")]
    return next((c for c in candidates if c and os.path.isdir(c)), None)


def test_lecture_notes_rows_name_their_source():
    """Every row quotes a file of the lecture material (words included), says it comes from
    a paper or from no lecture at all, or continues the row above it ("(the same ...")."""
    rows = lecture_sources()
    assert len(rows) >= 60
    for cell, cited in rows:
        if cited:
            assert all(quotes for _, quotes in cited), f"a file named without its words: {cell}"
        else:
            assert cell.startswith(NOT_FROM_THE_LECTURE) or cell.startswith("("), cell


def test_lecture_notes_quote_the_lecture_material_exactly():
    """Each quote is in the file it names, word for word (runs of spaces, tabs and line
    breaks count as one space: a quote may join the lines of a slide)."""
    folder = seeds_folder()
    if folder is None:
        pytest.skip("the lecture material (../shared/seeds/ or $MINICNN_LECTURE_SEEDS) is "
                    "not on this machine; the rows' sources are still checked above")
    squeeze = lambda text: re.sub(r"\s+", " ", text).strip()
    texts = {}
    checked = 0
    for cell, cited in lecture_sources():
        for name, quotes in cited:
            if name not in texts:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    texts[name] = squeeze(f.read())
            for quote in quotes:
                assert squeeze(quote) in texts[name], f"{name} does not say {quote!r}"
                checked += 1
    assert checked >= 100


def test_lecture_notes_figures_are_what_the_commands_print():
    rows = lecture_rows()
    assert len(rows) >= 30
    for figures, command in rows:
        assert figures, f"no figure quoted for {command}"
        output = run_command(command)
        for figure in figures:
            assert figure in output, f"{command} does not print {figure!r}:\n{output}"


# ----- README --------------------------------------------------------------------------
def test_readme_links_every_doc():
    readme = read("README.md")
    linked = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    pages = {p for p in PAGES if p.startswith("docs") and os.sep + "lessons" + os.sep not in p}
    assert pages <= linked, pages - linked
    if os.path.isdir(os.path.join(DOCS, "lessons")):
        assert "docs/lessons/" in linked


def test_readme_layout_covers_the_tree():
    paths = set(re.findall(r"^\| `([^`|]+)`", read("README.md"), flags=re.M))
    paths |= {p for cell in re.findall(r"^\| ([^|]+) \|", read("README.md"), flags=re.M)
              for p in re.findall(r"`([^`]+)`", cell)}
    package = os.path.join(ROOT, "minicnn")
    tree = {f"minicnn/{n}" + ("/" if os.path.isdir(os.path.join(package, n)) else "")
            for n in os.listdir(package)
            if not n.startswith(("_", ".")) and (n.endswith(".py") or
                                                 os.path.isfile(os.path.join(package, n, "__init__.py")))}
    tree |= {"kernels/", "tests/", "benchmarks/", "docs/"}
    assert tree <= paths, sorted(tree - paths)


def test_readme_gradcheck_example_catches_a_wrong_backward(monkeypatch):
    """The README's gradcheck passes, and fails once tanh's backward forgets the square
    (g * (1 - out) instead of g * (1 - out**2)): it checks a real gradient."""
    blocks = python_blocks("README.md")
    run_blocks("README.md", blocks)
    from minicnn.functional import activation
    monkeypatch.setattr(activation.Tanh, "backward", lambda self, g: g * (1 - self.out))
    with pytest.raises(GradcheckError):
        run_blocks("README.md", blocks)
