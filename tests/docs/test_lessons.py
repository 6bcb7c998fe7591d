"""Every lesson in docs/lessons runs as a plain script and as a notebook, and is a Jupytext
"percent" file.

The lessons assert their own numbers against the lectures', so running them checks those.
They run in their short mode (``MINICNN_LESSON_SHORT=1``, see ``minicnn.lessons``): a lesson
that trains takes fewer steps.  Run as a notebook (Jupytext turns the file into one,
nbclient executes it in a fresh kernel, as Jupyter would), every figure a lesson saves must
also appear under its cell, byte for byte the saved PNG.
"""
import base64
import glob
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir))
LESSONS = os.path.join(ROOT, "docs", "lessons")
SCRIPTS = sorted(glob.glob(os.path.join(LESSONS, "[0-9][0-9]_*.py")))
PNG = b"\x89PNG\r\n\x1a\n"
def lesson_environment(tmp_path):
    """The variables a lesson is run with: figures into tmp_path/figures, the short mode,
    this checkout's minicnn first on the path."""
    # The lessons' tensors are tiny: NumPy's reference kernels run them fastest (no Numba
    # threads to start); the Numba kernels are checked against those in their own tests.
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    return {"MINICNN_LESSON_OUT": str(tmp_path / "figures"), "MINICNN_LESSON_SHORT": "1",
            "MINICNN_NUMBA": "0", "PYTHONPATH": path}


def saved_figures(folder):
    """{name: bytes} of the PNG files in ``folder``."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix == ".png"}


def test_there_is_a_lesson_per_topic():
    topics = ["convolution", "receptive_fields", "alexnet", "vgg", "googlenet", "resnet",
              "inception_v3", "transfer_learning", "batch_norm", "beyond_resnet"]
    names = [os.path.basename(s) for s in SCRIPTS]
    assert [any(t in n for n in names) for t in topics] == [True] * len(topics), names
    with open(os.path.join(LESSONS, "README.md"), encoding="utf-8") as f:
        index = f.read()
    assert all(f"]({n})" in index for n in names)           # the index links every lesson


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_lesson_is_a_percent_file_ending_with_exercises(script):
    with open(script, encoding="utf-8") as f:
        lines = f.read().splitlines()
    cells = [l for l in lines if l.startswith("# %%")]
    assert cells[0] == "# %% [markdown]"                     # opens with its title
    assert lines[lines.index(cells[0]) + 1].startswith("# # Lesson ")
    assert "# %%" in cells                                    # and has code cells
    assert all(c in ("# %%", "# %% [markdown]") for c in cells)
    last = max(i for i, l in enumerate(lines) if l.startswith("# %%"))
    assert lines[last] == "# %% [markdown]" and lines[last + 1] == "# ## Exercises"
    exercises = [l for l in lines[last:] if l[:5] in ("# 1. ", "# 2. ", "# 3. ", "# 4. ")]
    assert len(exercises) >= 2, "a lesson ends with 2-3 numbered exercises"


# Every lesson runs as a notebook below (its code, its figures saved and shown); as a plain
# script, where show() only saves, one lesson per kind of figure code is enough (show() on its
# own: test_show_saves_the_figure_outside_a_notebook...), and keeps the suite short.
AS_SCRIPTS = [s for s in SCRIPTS if os.path.basename(s).startswith(("02_", "12_"))]


@pytest.mark.parametrize("script", AS_SCRIPTS, ids=os.path.basename)
def test_lesson_runs_as_a_script_and_saves_its_figures(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", **lesson_environment(tmp_path))
    done = subprocess.run([sys.executable, script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip()
    figures = saved_figures(tmp_path / "figures")
    assert figures, "every lesson draws at least one figure"
    assert all(data.startswith(PNG) for data in figures.values()), list(figures)


def inline_images(notebook):
    """The PNG images shown in the notebook's outputs, in order, as bytes."""
    return [base64.b64decode(output["data"]["image/png"])
            for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if "image/png" in output.get("data", {})]


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_lesson_runs_as_a_notebook_with_its_figures_inline(script, tmp_path, monkeypatch):
    jupytext = pytest.importorskip("jupytext", reason="the test extra: pip install -e .[test]")
    nbclient = pytest.importorskip("nbclient", reason="the test extra: pip install -e .[test]")
    for name, value in lesson_environment(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)          # the kernel's own (inline)
    # A kernel of this Python (a "python3" kernel installed for the user may be another)
    spec = tmp_path / "jupyter" / "kernels" / "minicnn-tests"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "minicnn tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    notebook = jupytext.read(script)
    work = tmp_path / "work"
    work.mkdir()
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="minicnn-tests",
                            resources={"metadata": {"path": str(work)}}).execute()
    shown, saved = inline_images(notebook), saved_figures(tmp_path / "figures")
    assert saved, "every lesson draws at least one figure"
    # each saved figure shown once, and nothing else: the same bytes
    assert sorted(shown) == sorted(saved.values()), (len(shown), list(saved))


def test_show_saves_the_figure_outside_a_notebook_and_refuses_a_folder_in_the_name(
        tmp_path, monkeypatch):
    from matplotlib.figure import Figure
    from minicnn import lessons
    monkeypatch.setenv("MINICNN_LESSON_OUT", str(tmp_path / "out"))
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    path = lessons.show(fig, "line")                       # (pytest: no kernel, no display)
    assert path == str(tmp_path / "out" / "line.png")
    with open(path, "rb") as f:
        assert f.read(8) == PNG
    with pytest.raises(ValueError, match="lessons.show: name must be a file name"):
        lessons.show(fig, "../line")
    monkeypatch.setenv("MINICNN_LESSON_SHORT", "0")
    assert lessons.pick(150, 10) == 150 and not lessons.short()
    monkeypatch.setenv("MINICNN_LESSON_SHORT", "1")
    assert lessons.pick(150, 10) == 10
