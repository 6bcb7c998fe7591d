"""The wheel works: ``pip wheel`` of this checkout, installed (not editable) into a fresh
virtual environment, runs ``python -m minicnn train`` with the digits and the CUDA kernel
sources that ship inside the package.

Built once for the module (about half a minute on 2 cores).  No download: the wheel is
built without build isolation (with this environment's setuptools) and installed without
its dependencies; the new environment reads numpy, numba, ... from this one's
site-packages through a .pth file -- which adds those folders only, so this checkout's
editable install (a finder that a .pth in there would activate) stays out.  Every command
runs in a temporary folder with PYTHONPATH unset, so nothing can import this checkout.
Deselect with ``-m "not wheel"``.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

pytestmark = pytest.mark.wheel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", PIP_NO_INPUT="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def run(argv, cwd, timeout=300):
    result = subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (f"{' '.join(map(str, argv))} failed "
                                    f"({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel path, the new environment's python, a work folder)."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    root = tmp_path_factory.mktemp("wheel")
    # a copy of the sources: the build's build/ and *.egg-info stay out of the checkout
    source = root / "source"
    source.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy(os.path.join(REPO, name), source)
    for folder in ("minicnn", "kernels"):
        shutil.copytree(os.path.join(REPO, folder), source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    dist = root / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(dist), str(source)], cwd=root)
    (wheel,) = dist.glob("minicnn-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
               cwd=root).strip()
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    with open(os.path.join(site, "dependencies-from-the-test-environment.pth"), "w") as f:
        f.write("\n".join(sorted(ours)) + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", str(wheel)], cwd=root)
    work = root / "work"
    work.mkdir()
    return wheel, python, work


def test_the_wheel_holds_the_kernels_and_the_digits(installed):
    wheel, _, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    kernels = sorted(f for f in os.listdir(os.path.join(REPO, "kernels"))
                     if f.endswith((".cu", ".h")))
    assert sorted(n[len("minicnn/kernels/"):] for n in names
                  if n.startswith("minicnn/kernels/") and n.endswith((".cu", ".h"))) == kernels
    assert "minicnn/data/digits.npz" in names
    assert "minicnn/onnx/exporter.py" in names and "minicnn/cli/export.py" in names
    assert not [n for n in names if n.startswith("tests/")]


def test_the_installed_package_is_the_wheels_and_finds_its_files(installed):
    _, python, work = installed
    out = run([str(python), "-c", "import minicnn, minicnn.data.datasets as d; "
               "from minicnn.cuda import loader; print(minicnn.__file__); "
               "print(loader.kernel_dir()); print(','.join(loader.kernel_files())); "
               "print(len(loader.read_source('conv'))); print(d.DIGITS_FILE)"], cwd=work)
    package_file, kernel_dir, files, source_length, digits = out.split("\n")[:5]
    venv = str(python.parent.parent)
    assert package_file.startswith(venv) and kernel_dir.startswith(venv), out
    assert files.split(",") == sorted(f[:-3] for f in os.listdir(os.path.join(REPO, "kernels"))
                                      if f.endswith(".cu"))
    assert int(source_length) > 1000 and digits.startswith(venv) and os.path.isfile(digits)


def test_the_installed_command_trains(installed):
    _, python, work = installed
    out = run([str(python), "-m", "minicnn", "train", "--epochs", "1", "--limit", "300",
               "--no-progress", "--out", str(work / "run")], cwd=work)
    assert "accuracy" in out.lower(), out
    assert (work / "run").is_dir() and os.listdir(work / "run")
    # and the console script
    assert (python.parent / "minicnn").exists()
