"""benchmarks/ops.py runs end to end (quick mode, one tiny op) and writes the JSON it
documents.  No timing is asserted: timings belong to the benchmark, not to tests."""
import importlib.util
import json
import pathlib

import torch

BENCHMARK = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "ops.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("minicnn_benchmark_ops", BENCHMARK)
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
        load_benchmark().main(["--quick", "--only", "relu", "--threads", "1", "--json", str(out)])
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
