"""benchmarks/ops.py and benchmarks/models.py run end to end (quick mode) and write the
JSON they document.  No timing is asserted: timings belong to the benchmark, not to tests."""
import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import torch

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def load_module(name):
    """benchmarks/<name>.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"minicnn_benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _restore_numba_threads():
    try:
        import numba
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    except ImportError:
        pass


def test_ops_benchmark_quick_writes_json(tmp_path, capsys):
    out = tmp_path / "ops.json"
    threads = torch.get_num_threads()
    try:
        load_module("ops").main(["--quick", "--only", "relu", "--threads", "1", "--json", str(out)])
    finally:   # main() sets the thread count process-wide; later tests should not inherit it
        torch.set_num_threads(threads)
        _restore_numba_threads()
    result = json.loads(out.read_text())
    assert {"device", "threads", "batch", "repeats", "warmup", "numba", "versions", "results"} <= set(result)
    assert result["threads"] == 1 and result["batch"] == 1 and result["quick"] is True
    (row,) = result["results"]
    assert row["op"] == "relu" and "error" not in row
    for key in ("minicnn_fwd_ms", "torch_fwd_ms", "fwd_ratio",
                "minicnn_fwdbwd_ms", "torch_fwdbwd_ms", "fwdbwd_ratio"):
        assert isinstance(row[key], float) and row[key] > 0
    assert "relu" in capsys.readouterr().out            # the table row was printed


def test_profile_times_every_op_and_restores_the_methods():
    import numpy as np
    import minicnn as mc
    import minicnn.functional as F
    from minicnn.benchmarking import BETWEEN_OPS, profile
    from minicnn.functional.conv import Conv2d
    forward = Conv2d.forward
    x = mc.tensor(np.ones((1, 2, 5, 5), np.float32), requires_grad=True)
    w = mc.tensor(np.ones((3, 2, 3, 3), np.float32), requires_grad=True)
    with profile() as times:
        F.relu(F.conv2d(x, w)).sum().backward()
        F.conv2d(x, w)
    assert times[("Conv2d", "forward")][1] == 2 and times[("Conv2d", "backward")][1] == 1
    assert times[("ReLU", "backward")][1] == 1 and times[("Conv2d", "forward")][0] > 0
    assert Conv2d.forward is forward                     # unwrapped again
    gaps, count = times.pop(BETWEEN_OPS)                 # one gap before each op but the first
    assert count == sum(calls for _, calls in times.values()) - 1 and gaps > 0


def test_models_benchmark_quick_writes_json(tmp_path):
    models = load_module("models")
    threads = torch.get_num_threads()
    out = tmp_path / "models.json"
    try:
        result = models.main(["--quick", "--no-memory", "--threads", "1", "--json", str(out),
                              "--plot", str(tmp_path / "ratios.png")])
    finally:
        torch.set_num_threads(threads)
        _restore_numba_threads()
    (row,) = json.loads(out.read_text())["results"]
    assert row["model"] == "resnet18" and row["max_abs_diff_logits"] < 1e-3   # same weights
    for what in ("train", "eval"):
        assert row[what]["ratio_median"] > 0 and row[what]["minicnn"]["min_ms"] > 0
    assert (tmp_path / "ratios.png").stat().st_size > 0
    assert result["results"] == [row]


def test_models_benchmark_busy_core_and_folded_batch_norms(tmp_path):
    """--busy-cores 1 --fuse-bn: the run completes, says so in its JSON, and the folded
    copy's logits agree with the unfused model's (float32 rounding; logits of size ~1)."""
    models = load_module("models")
    threads = torch.get_num_threads()
    out = tmp_path / "models.json"
    try:
        result = models.main(["--quick", "--no-memory", "--threads", "1", "--json", str(out),
                              "--busy-cores", "1", "--fuse-bn"])
    finally:
        torch.set_num_threads(threads)
        _restore_numba_threads()
    assert result["busy_cores"] == 1 and result["fuse_bn"] is True
    (row,) = result["results"]
    assert row["max_abs_diff_logits_fused"] < 1e-4 and row["eval"]["minicnn"]["min_ms"] > 0


def _alive(pid):
    """The process exists and is no zombie (an orphan may wait unreaped in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_busy_cores_spin_for_the_block_and_stop_however_it_ends():
    from minicnn.benchmarking import busy_cores
    with pytest.raises(KeyboardInterrupt):
        with busy_cores(2) as spinners:
            pids = [s.pid for s in spinners]
            assert len(set(pids)) == 2 and all(_alive(p) for p in pids)
            raise KeyboardInterrupt             # Ctrl-C in the middle of a measurement
    assert not any(_alive(p) for p in pids)
    with busy_cores(0) as spinners:
        assert spinners == []
    with pytest.raises(ValueError, match="must be >= 0, got -1"):
        with busy_cores(-1):
            pass
    # a benchmark killed outright (no finally runs): its spinner notices and stops
    code = ("import os, signal; from minicnn.benchmarking import busy_cores\n"
            "with busy_cores(1) as s:\n    print(s[0].pid, flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    job = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                           env=dict(os.environ, PYTHONPATH=str(BENCHMARKS.parent)))
    pid = int(job.stdout.readline())
    job.wait(timeout=60)
    job.stdout.close()
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)            # no spinner left behind by a failed test
        pytest.fail("the spinner outlived the killed benchmark")


def test_paired_ratio_is_the_median_of_back_to_back_ratios():
    """A slow phase that hits one repeat of both libraries moves the medians' ratio, not the
    paired one: here minicnn is twice as slow in every pair but one."""
    row = load_module("models").summarise({"minicnn": [1.0, 10.0, 2.0], "torch": [2.0, 5.0, 1.0]})
    assert row["ratio_median"] == 1.0 and row["ratio_min"] == 1.0
    assert row["ratio_paired"] == 2.0


def test_conv_algorithms_benchmark_quick_writes_json(tmp_path, capsys):
    """Both of minicnn's algorithms and PyTorch are timed on the same layer; the choice is
    restored afterwards."""
    from minicnn.functional import conv_algorithm
    out = tmp_path / "conv.json"
    threads = torch.get_num_threads()
    try:
        load_module("conv_algorithms").main(["--quick", "--threads", "1", "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    result = json.loads(out.read_text())
    (row,) = result["results"]
    for way in ("im2col", "winograd", "torch"):
        for p in ("fwd", "fwdbwd"):
            assert row[f"{way}_{p}_median_ms"] > 0 and row[f"{way}_{p}_min_ms"] > 0
    assert row["winograd_over_im2col_fwdbwd"] > 0
    assert conv_algorithm.CONV_ALGORITHM == "auto"         # put back as it was
    assert "quick" in capsys.readouterr().out


def test_models_benchmark_pairs_each_paper_version_with_its_pytorch_twin():
    """--paper: each of the papers' versions gets the same weights in both libraries
    (the logits of one image agree), at the input size its classifier needs."""
    import numpy as np
    import minicnn as mc
    models = load_module("models")
    for name in models.PAPER_MODELS:
        mine, theirs, size = models.paired(name)
        image = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
        mine.eval(), theirs.eval()
        with torch.no_grad():
            expected = theirs(torch.from_numpy(image)).numpy()
        with mc.no_grad():
            got = mine(mc.tensor(image)).numpy()
        assert got.shape == expected.shape == (1, 1000), name
        error = np.abs(got - expected).max() / np.abs(expected).max()
        assert error < 1e-4, f"{name}: logits differ by {error:.2g} of their largest"
        del mine, theirs


def test_models_benchmark_copies_torchvision_weights_into_each_new_model():
    """--new: torchvision's weights reach every layer of minicnn's squeezenet1_0,
    densenet121, resnext50_32x4d, wide_resnet50_2 and mobilenet_v2 (the logits of one
    64x64 image agree in eval mode); the names are choices and --new selects them."""
    import numpy as np
    import minicnn as mc
    models = load_module("models")
    assert models.parse_args(["--new"]).models == list(models.NEW_MODELS)
    assert models.parse_args(["--models", *models.NEW_MODELS]).models == list(models.NEW_MODELS)
    assert set(models.NEW_MODELS) == {"squeezenet1_0", "densenet121", "resnext50_32x4d",
                                      "wide_resnet50_2", "mobilenet_v2"}
    image = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    for name in models.NEW_MODELS:
        mine, theirs, size = models.paired(name)
        assert size == 224
        mine.eval(), theirs.eval()
        with torch.no_grad():
            expected = theirs(torch.from_numpy(image)).numpy()
        with mc.no_grad():
            got = mine(mc.tensor(image)).numpy()
        assert got.shape == expected.shape == (1, 1000), name
        error = np.abs(got - expected).max() / np.abs(expected).max()
        assert error < 1e-4, f"{name}: logits differ by {error:.2g} of their largest"
        del mine, theirs
