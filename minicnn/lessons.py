"""What the lessons in docs/lessons share: where their figures go, showing a figure, and
the short mode the test suite runs them in.

A lesson is a script and a notebook at once (Jupytext's percent format).  Run as a
script it saves its figures as PNG files; run as a notebook it also shows each one
under the cell that drew it.  Both come from one call::

    from minicnn import lessons
    lessons.show(fig, "alexnet_conv1")     # saved as lesson-output/alexnet_conv1.png

Settings, as environment variables:

* ``MINICNN_LESSON_OUT``: the folder the figures are saved in (default ``lesson-output``
  in the current folder).
* ``MINICNN_LESSON_SHORT=1``: a lesson that trains for a while takes fewer steps
  (``lessons.pick(full, short)``), so that the test suite can run every lesson; its
  numbers are then rougher than the text says.

Nothing here is needed by ``import minicnn``: matplotlib and IPython are imported only
when a figure is shown.
"""
import os
import sys

from .io.files import atomic_path

OUT_VARIABLE, SHORT_VARIABLE = "MINICNN_LESSON_OUT", "MINICNN_LESSON_SHORT"


def output_folder():
    """The folder figures are saved in (``$MINICNN_LESSON_OUT`` or ``lesson-output``),
    made if missing."""
    folder = os.environ.get(OUT_VARIABLE) or "lesson-output"
    os.makedirs(folder, exist_ok=True)
    return folder


def short():
    """True when ``$MINICNN_LESSON_SHORT`` is set to anything but "" or "0"."""
    return os.environ.get(SHORT_VARIABLE, "") not in ("", "0")


def pick(full, short_value):
    """``full``, or ``short_value`` in the short mode: ``steps = lessons.pick(150, 10)``."""
    return short_value if short() else full


def _in_a_notebook():
    """True inside a Jupyter kernel (a notebook, VS Code's interactive window): there a
    displayed image appears under the cell.  A plain script or terminal IPython has none."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def show(fig, name):
    """Save ``fig`` as ``<output folder>/<name>.png`` and, in a notebook, show that file
    under the cell.  Returns the file's path.

    The figure is closed afterwards: a pyplot figure left open would be drawn a second
    time by the notebook's inline backend at the end of the cell.

    Args:
        fig: a matplotlib ``Figure`` (from ``plt.subplots``, ``mc.viz``, ...).
        name: the file name, without a folder; ``.png`` is added when missing.

    Example::

        import matplotlib.pyplot as plt
        from minicnn import lessons
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        lessons.show(fig, "line")        # lesson-output/line.png (and inline in a notebook)
    """
    if os.path.basename(name) != name or not name:
        raise ValueError(f"minicnn: lessons.show: name must be a file name without a folder "
                         f"(the folder is $MINICNN_LESSON_OUT), got {name!r}")
    if not name.endswith(".png"):
        name += ".png"
    path = os.path.join(output_folder(), name)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, bbox_inches="tight")     # (tight: long titles are not cut off)
    if _in_a_notebook():
        from IPython.display import Image, display
        display(Image(filename=path))             # exactly the saved file
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return path
