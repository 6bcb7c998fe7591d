"""Every lesson in docs/lessons runs as a plain script, and is a Jupytext "percent" file.

The lessons assert their own numbers against the lectures', so running them checks those.
"""
import glob
import os
import subprocess
import sys

import pytest

LESSONS = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "lessons")
SCRIPTS = sorted(glob.glob(os.path.join(LESSONS, "[0-9][0-9]_*.py")))
FIGURES = {   # what a lesson says it saves
    "02_receptive_fields.py": ["receptive_field_3x3x3.png"],
    "03_alexnet.py": ["alexnet_conv1.png", "alexnet_conv1_maps.png"],
    "06_resnet.py": ["resnet_gradient_norms.png"],
    "12_gradients_of_gradients.py": ["hessian_vector_products.png"],
}


def test_there_is_a_lesson_per_topic():
    topics = ["convolution", "receptive_fields", "alexnet", "vgg", "googlenet", "resnet",
              "inception_v3", "transfer_learning"]
    names = [os.path.basename(s) for s in SCRIPTS]
    assert [any(t in n for n in names) for t in topics] == [True] * len(topics), names
    with open(os.path.join(LESSONS, "README.md"), encoding="utf-8") as f:
        index = f.read()
    assert all(f"]({n})" in index for n in names)           # the index links every lesson


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_lesson_is_a_percent_notebook(script):
    with open(script, encoding="utf-8") as f:
        lines = f.read().splitlines()
    cells = [l for l in lines if l.startswith("# %%")]
    assert cells[0] == "# %% [markdown]"                     # opens with its title
    assert lines[lines.index(cells[0]) + 1].startswith("# # Lesson ")
    assert "# %%" in cells                                    # and has code cells
    assert all(c in ("# %%", "# %% [markdown]") for c in cells)


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_lesson_runs(script, tmp_path):
    out = tmp_path / "figures"
    # The lessons' tensors are tiny: NumPy's reference kernels run them fastest (no Numba
    # threads to start); the Numba kernels are checked against those in their own tests.
    env = dict(os.environ, MPLBACKEND="Agg", MINICNN_LESSON_OUT=str(out), MINICNN_NUMBA="0")
    done = subprocess.run([sys.executable, os.path.abspath(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip()
    for name in FIGURES.get(os.path.basename(script), []):
        with open(out / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
