"""benchmarks/gpu.py runs end to end.  Without a GPU it runs on the CPU (--device cpu),
which exercises everything but the CUDA-event clock; the real run is the lead's, on a
GPU.  No timing is asserted."""
import importlib.util
import json
import pathlib

BENCHMARK = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("minicnn_benchmark_gpu", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_benchmark_runs_on_cpu_and_writes_json(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    load_benchmark().main(["--device", "cpu", "--quick", "--only", "relu", "--no-models",
                           "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["quick"] is True
    (row,) = result["results"]
    assert row["kind"] == "op" and row["name"] == "relu" and "error" not in row
    for key in ("minicnn_fwd_ms", "torch_fwd_ms", "fwd_ratio", "minicnn_train_ms",
                "torch_train_ms", "train_ratio"):
        assert row[key] > 0
    assert "relu" in capsys.readouterr().out


def test_gpu_benchmark_knows_the_models():
    from minicnn.benchmarking import MODELS      # shared with benchmarks/models.py
    assert set(MODELS) == {"alexnet", "vgg16", "resnet18", "resnet50", "googlenet", "inception_v3"}
    assert set(load_benchmark().available_models()) == set(MODELS)


def test_gpu_benchmark_profile_runs_on_cpu(capsys):
    load_benchmark().main(["--device", "cpu", "--profile", "resnet18", "--model-batch", "1",
                           "--repeats", "1", "--warmup", "0"])
    out = capsys.readouterr().out
    assert "Conv2d" in out and "backward" in out and "host ms" in out       # per op: both times
    assert "host time between ops" in out and "rest (" in out


def test_gpu_benchmark_no_ops_runs_only_the_models(tmp_path):
    out = tmp_path / "gpu.json"
    load_benchmark().main(["--device", "cpu", "--quick", "--no-ops", "--only", "relu", "alexnet",
                           "--json", str(out)])
    (row,) = json.loads(out.read_text())["results"]
    assert row["kind"] == "model" and row["name"] == "alexnet" and "error" not in row
    assert "minicnn_peak_mb" not in row                  # GPU memory: measured on a GPU only


def test_gpu_benchmark_rows_show_peak_memory():
    gpu = load_benchmark()
    row = {"kind": "model", "name": "resnet18", "shape": "16x3x224x224", "minicnn_train_ms": 50.0,
           "torch_train_ms": 25.0, "minicnn_peak_mb": 1234.4, "torch_peak_mb": 987.6}
    line = gpu.format_row(gpu.add_ratios(row))
    assert line.split()[-4:] == ["25.00", "2.0", "1234", "988"]


def test_gpu_benchmark_table_of_saved_results(tmp_path, capsys):
    """--table turns saved model rows into docs/benchmarks.md's table (memory '-' off a GPU)."""
    out = tmp_path / "gpu.json"
    gpu = load_benchmark()
    gpu.main(["--device", "cpu", "--quick", "--no-ops", "--only", "alexnet", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["complete"] is True
    capsys.readouterr()
    gpu.main(["--table", str(out), str(out)])
    header, rule, *rows = capsys.readouterr().out.strip().splitlines()
    assert "peak MB" in header and len(rows) == 2
    (row,) = result["results"]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:4] == ["alexnet", "2", f"{row['minicnn_train_ms']:.1f} / {row['torch_train_ms']:.1f}",
                         f"{row['train_ratio']:.2f}"]
    assert cells[6:] == ["-", "-"]
