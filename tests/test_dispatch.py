"""The one dispatch mechanism (minicnn/dispatch.py) and the declared settings of Functions."""
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend, dispatch
from minicnn.autograd import Function
from minicnn.cuda.launch import KernelOps


def _parameters(function):
    names = list(inspect.signature(function).parameters)
    return names[1:] if names and names[0] == "self" else names


@pytest.mark.parametrize("name", dispatch.names())
def test_every_kernel_has_a_reference_with_the_same_signature(name):
    found = dispatch.implementations(name)
    assert "numpy" in found, f"{name}: every kernel needs its readable NumPy reference"
    assert ("cuda" in found) != (name in dispatch.REFERENCE_ON_GPU), (
        f"{name}: every dispatched kernel has a CUDA version, or is listed (with why) in "
        "dispatch.REFERENCE_ON_GPU, not both")
    reference = _parameters(found["numpy"])
    for kind, function in found.items():
        assert _parameters(function) == reference, (
            f"{name}: the {kind} version takes {_parameters(function)}, "
            f"the NumPy reference {reference}")


def test_every_cuda_kernel_op_is_registered_under_its_own_name():
    methods = {n for n, f in vars(KernelOps).items() if callable(f) and not n.startswith("_")}
    cuda_kernels = {n for n in dispatch.names() if "cuda" in dispatch.implementations(n)}
    assert methods == cuda_kernels
    for name in cuda_kernels:
        assert dispatch.implementations(name)["cuda"].__name__ == name


def test_listing_the_implementations_of_an_op():
    found = dispatch.implementations("col2im")
    assert list(found) == ["numpy", "numba", "cuda"]
    assert found["numpy"] is mc.functional.conv.col2im_numpy
    assert found["cuda"] is KernelOps.col2im
    with pytest.raises(KeyError, match="no kernel named 'col3im'"):
        dispatch.implementations("col3im")


def test_numpy_arrays_take_numba_unless_the_reference_is_asked_for():
    if not backend.numba_enabled():
        pytest.skip("Numba is not installed (or MINICNN_NUMBA=0)")
    from minicnn.cpu import conv as cpu_conv, pool as cpu_pool
    a = np.zeros(3)
    assert dispatch.kernel("col2im", a) is cpu_conv.col2im_numba
    assert dispatch.kernel("max_pool_forward", a) is cpu_pool.max_pool_forward
    assert dispatch.kernel("im2col", a) is cpu_conv.im2col_numba
    with backend.numpy_reference():
        assert dispatch.kernel("im2col", a) is mc.functional.conv.im2col_numpy
        assert dispatch.kernel("col2im", a) is mc.functional.conv.col2im_numpy
        assert dispatch.kernel("max_pool_forward", a) is mc.functional.pool.max_pool_forward_numpy
    assert dispatch.kernel("col2im", a) is cpu_conv.col2im_numba


def test_minicnn_numba_0_selects_the_references():
    code = ("import numpy as np; from minicnn import dispatch; "
            "print(dispatch.kernel('col2im', np.zeros(1)).__name__, "
            "dispatch.kernel('max_pool_backward', np.zeros(1)).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MINICNN_NUMBA": "0"})
    assert out.stdout.split() == ["col2im_numpy", "max_pool_backward_numpy"]


def test_cupy_arrays_take_the_cuda_kernel_of_the_process(monkeypatch):
    class StandIn(np.ndarray):            # the backend takes it for a CuPy array
        __module__ = "cupy_stand_in"

    class Ops:
        def relu_forward(self, x):
            return "cuda relu"

    monkeypatch.setattr(backend, "_cupy", object())   # what "xp" is does not matter here
    monkeypatch.setattr(mc.cuda, "_ops", Ops())
    x = np.zeros(3).view(StandIn)
    assert dispatch.kernel("relu_forward", x)(x) == "cuda relu"


def test_register_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        dispatch.register("relu_forward", "opencl")


# ----- declared settings ------------------------------------------------------------------
class Scale(Function):
    settings = ("factor",)

    def forward(self, x):
        return x * self.factor

    def backward(self, g):
        return g * self.factor


def test_settings_become_attributes():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = Scale.apply(x, factor=3.0)
    assert y.tolist() == [3.0, 6.0]
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("settings, match", [
    (dict(factor=2.0, fator=3.0), r"Scale takes the settings \['factor'\]; unknown: \['fator'\]"),
    (dict(), r"missing: \['factor'\]"),
    (dict(factor=2.0, inputs=()), r"unknown: \['inputs'\]"),
])
def test_apply_rejects_unknown_and_missing_settings(settings, match):
    with pytest.raises(TypeError, match=match):
        Scale.apply(mc.tensor([1.0]), **settings)


@pytest.mark.parametrize("name", ["forward", "backward", "parents", "input_shapes", "output_shape",
                                  "needs_input_grad", "apply", "release", "settings"])
def test_a_setting_may_not_overwrite_what_every_function_needs(name):
    with pytest.raises(TypeError, match=f"setting\\(s\\) \\['{name}'\\] would overwrite"):
        type("Clash", (Function,), {"settings": (name,)})


def test_forward_extras_come_back_without_gradient():
    class WithArgmax(Function):
        def forward(self, x):
            return x * 2, x.argmax(keepdims=True)

        def backward(self, g):
            return g * 2

    x = mc.tensor([1.0, 5.0, 2.0], requires_grad=True)
    y, where = WithArgmax.apply(x)
    assert y.requires_grad and not where.requires_grad
    assert where.tolist() == [1]
    y.backward(np.ones(3))
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


# ----- layering -----------------------------------------------------------------------------
def _minicnn_imports(path):
    """The minicnn modules a file imports, as dotted names (relative imports resolved)."""
    import ast
    import pathlib
    package = ".".join(pathlib.Path(path).relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(pathlib.Path(path).read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m == "minicnn" or m.startswith("minicnn.")}


ROOT = __import__("pathlib").Path(mc.__file__).parent.parent
LOWER_LAYERS = ["minicnn/backend.py", "minicnn/geometry.py", "minicnn/dispatch.py",
                "minicnn/autograd.py", *sorted(str(p.relative_to(ROOT)) for p in
                                               (ROOT / "minicnn").glob("c[pu][ud]*/*.py"))]
UPPER = ("minicnn.functional", "minicnn.nn", "minicnn.models", "minicnn.train", "minicnn.cli")


@pytest.mark.parametrize("path", LOWER_LAYERS)
def test_lower_layers_do_not_import_upwards(path):
    upward = sorted(m for m in _minicnn_imports(ROOT / path) if m.startswith(UPPER))
    assert not upward, f"{path} imports {upward}"


def _import_graph():
    """{module: the minicnn modules it imports, anywhere in the file}, by dotted name; an
    import of a package's own ancestors (``from .. import backend`` names ``minicnn``) is
    how Python reaches a sibling, not a dependency on the ancestor, and is left out."""
    files = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in (ROOT / "minicnn").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        ancestors = {name.rsplit(".", k)[0] for k in range(1, name.count(".") + 1)}
        graph[name] = {m for m in _minicnn_imports(path) if m in files and m not in ancestors
                       and m != name}
    return graph


def test_no_import_cycles():
    """No chain of imports leads from a module back to itself, lazy imports inside functions
    included (dispatch -> cuda -> cuda.launch -> dispatch was one)."""
    graph, state, cycles = _import_graph(), {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_geometry_imports_nothing_from_minicnn():
    assert _minicnn_imports(ROOT / "minicnn/geometry.py") == set()
