"""The docstrings a PyTorch user expects, on every public ``F.*`` and ``nn.*``.

* ``test_docstring_examples_run``: the ``>>>`` examples of each public name run with
  ``doctest`` (in a namespace holding ``mc``, ``F``, ``nn`` and ``np``) and print exactly
  what the docstring says they print.  One case per name.
* ``test_docstring_sections``: each has ``Args:`` documenting every argument of its
  signature (a class: its constructor's) with the signature's default, ``Shape:`` when it
  is an op or a layer on tensors with a shape contract, and an example.

The public names: the functions ``minicnn.functional`` exports, the classes ``minicnn.nn``
exports, and the public functions and classes of ``nn.init``, ``nn.utils`` and
``nn.parallel``.
"""
import ast
import doctest
import inspect
import re

import numpy as np
import pytest

import minicnn
import minicnn.distributed as dist
import minicnn.functional as F
import minicnn.nn as nn

GLOBS = {"mc": minicnn, "F": F, "nn": nn, "np": np}
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
# nn classes without a shape contract of their own (they run whatever they hold)
NO_SHAPE = {"nn.Module", "nn.Sequential", "nn.ModuleList", "nn.ModuleDict",
            "nn.parallel.DistributedDataParallel"}
# Examples that start a process group (a world of one, without mpiexec): they need mpi4py.
NEEDS_MPI = {"F.sync_batch_norm", "nn.parallel.DistributedDataParallel"}


def public_names():
    """{'F.add': add, 'nn.Conv2d': Conv2d, 'nn.init.zeros_': zeros_, ...}"""
    names = {}
    for name, obj in vars(F).items():
        if not name.startswith("_") and inspect.isfunction(obj):
            names[f"F.{name}"] = obj
    for name, obj in vars(nn).items():
        if not name.startswith("_") and inspect.isclass(obj):
            names[f"nn.{name}"] = obj
    for module in (nn.init, nn.utils, nn.parallel):
        for name, obj in vars(module).items():
            if (not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                    and obj.__module__ == module.__name__):
                names[f"{module.__name__.removeprefix('minicnn.')}.{name}"] = obj
    return names


PUBLIC = public_names()


def cases():
    """One case per public name (those that need MPI skipped without mpi4py)."""
    no_mpi = pytest.mark.skipif(not dist.is_available(), reason=(
        'needs mpi4py (`pip install -e ".[mpi]"` or ".[test]" installs it with MPICH)'))
    params = []
    for name in sorted(PUBLIC):
        params.append(pytest.param(name, marks=[no_mpi] if name in NEEDS_MPI else []))
    return params


def test_the_public_names_are_found():
    for name in ("F.add", "F.conv2d", "F.im2col", "F.col2im", "F.sync_batch_norm", "F.view",
                 "F.cross_entropy", "nn.Module", "nn.Parameter", "nn.Conv2d", "nn.Sequential",
                 "nn.SyncBatchNorm", "nn.init.kaiming_uniform_", "nn.utils.clip_grad_norm_",
                 "nn.parallel.DistributedDataParallel"):
        assert name in PUBLIC, name
    assert len(PUBLIC) >= 75, sorted(PUBLIC)


def run_examples(name, obj):
    """doctest's report of the failed examples of ``obj``'s docstrings ('' when all pass),
    and how many examples ran."""
    finder = doctest.DocTestFinder()
    tests = finder.find(obj, name, module=inspect.getmodule(obj), globs=GLOBS)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    return "".join(report), runner.summarize(verbose=False).attempted


@pytest.mark.parametrize("name", cases())
def test_docstring_examples_run(name):
    had_group = dist.is_initialized()
    try:
        report, attempted = run_examples(name, PUBLIC[name])
    finally:       # an example that failed half-way leaves no process group behind
        if dist.is_initialized() and not had_group:
            dist.destroy_process_group()
    assert attempted, f"{name}: no example"
    assert not report, f"{name}: an example does not print what its docstring says:\n{report}"


def test_a_wrong_output_fails():
    """The check itself: an example whose printed output differs is reported."""
    def relu_with_a_wrong_output():
        """>>> F.relu(mc.tensor([-1.0, 2.0]))
        tensor([0., 3.], dtype=float32)
        """
    report, attempted = run_examples("wrong", relu_with_a_wrong_output)
    assert attempted == 1 and "tensor([0., 2.], dtype=float32)" in report


def section(doc, title):
    """The lines of section ``title`` (``Args:``, ``Shape:``) of a cleaned docstring, or None."""
    lines = doc.split("\n")
    if title + ":" not in lines:
        return None
    start = lines.index(title + ":") + 1
    body = []
    for line in lines[start:]:
        if line.strip() and not line.startswith(" "):
            break
        body.append(line)
    return body


def args_entries(lines):
    """{argument name (with * or **): its entry's text} of an Args section."""
    entries, name = {}, None
    for line in lines:
        m = re.match(r"    (\*{0,2}\w+)[ :(]", line)
        if m and not line.startswith("     "):
            name = m.group(1)
            entries[name] = line
        elif name is not None:
            entries[name] += " " + line.strip()
    return entries


def signature_parameters(obj):
    """[(name as documented, default or inspect.Parameter.empty)] of a function or a class's
    constructor."""
    parameters = inspect.signature(obj).parameters.values()
    prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    return [(prefix.get(p.kind, "") + p.name, p.default) for p in parameters]


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_docstring_sections(name):
    obj = PUBLIC[name]
    doc = inspect.getdoc(obj)
    assert doc, f"{name}: no docstring"
    problems = []
    parameters = signature_parameters(obj)
    args = section(doc, "Args")
    if parameters and args is None:
        problems.append("no Args: section")
    entries = args_entries(args or [])
    for parameter, default in parameters:
        entry = entries.get(parameter)
        if entry is None:
            problems.append(f"Args: does not document {parameter!r}")
            continue
        if default is inspect.Parameter.empty:
            continue
        documented = re.search(r"Default: ``(.+?)``", entry)
        if documented is None:
            problems.append(f"Args: {parameter!r} does not give its default ({default!r})")
        elif ast.literal_eval(documented.group(1)) != default:
            problems.append(f"Args: {parameter!r} documents the default {documented.group(1)}, "
                            f"the signature has {default!r}")
    unknown = set(entries) - {p for p, _ in parameters}
    if unknown:
        problems.append(f"Args: documents {sorted(unknown)}, which the signature lacks")
    shaped = name.startswith("F.") or (inspect.isclass(obj) and issubclass(obj, nn.Module)
                                       and name not in NO_SHAPE)
    if shaped and not section(doc, "Shape"):
        problems.append("no Shape: section")
    if ">>> " not in doc:
        problems.append("no example")
    assert not problems, f"{name}: " + "; ".join(problems)


# The autograd tools beside F and nn (hooks, autograd.grad, activation checkpointing, tensor
# hooks): their examples run too.
AUTOGRAD_TOOLS = {"mc.autograd.grad": minicnn.autograd.grad, "mc.Tensor.register_hook": minicnn.Tensor.register_hook,
                  "mc.utils.checkpoint": minicnn.utils.checkpoint,
                  "mc.utils.checkpoint_sequential": minicnn.utils.checkpoint_sequential}


@pytest.mark.parametrize("name", sorted(AUTOGRAD_TOOLS))
def test_autograd_tools_examples_run(name):
    report, attempted = run_examples(name, AUTOGRAD_TOOLS[name])
    assert attempted, f"{name}: no example"
    assert not report, f"{name}: an example does not print what its docstring says:\n{report}"
