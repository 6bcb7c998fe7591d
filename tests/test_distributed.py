"""minicnn.distributed, DistributedDataParallel, SyncBatchNorm and DistributedSampler.

Claims about several processes run as scripts under ``mpiexec -n 2`` (tests/mpi_scripts/):
each script checks itself, prints ``rank R ok: NAME`` for every passed check and, on a
failed one, aborts the job with a non-zero status.  The rest runs here, in a world of one
(``init_process_group`` without mpiexec), or needs no process group at all.
"""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import minicnn as mc
import minicnn.distributed as dist
import minicnn.functional as F
from minicnn import nn
from minicnn.data import DataLoader, DistributedSampler, TensorDataset
from minicnn.nn.parallel import DistributedDataParallel
from minicnn.functional import sync_batch_norm
from minicnn.utils import assert_close, compare_with_torch

SCRIPTS = os.path.join(os.path.dirname(__file__), "mpi_scripts")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# mpiexec next to this Python (a virtual environment's mpich wheel) or on the PATH
MPIEXEC = (shutil.which("mpiexec", path=os.path.dirname(sys.executable))
           or shutil.which("mpiexec"))
needs_mpi4py = pytest.mark.skipif(not dist.is_available(), reason=(
    'needs mpi4py (`pip install -e ".[mpi]"` or ".[test]" installs it with MPICH)'))
needs_mpiexec = pytest.mark.skipif(not (dist.is_available() and MPIEXEC), reason=(
    'needs mpi4py and an mpiexec (`pip install -e ".[mpi]"` installs both)'))


@pytest.fixture
def world_of_one():
    """A process group of this process alone (MPI initialised without mpiexec)."""
    dist.init_process_group("mpi")
    yield
    dist.destroy_process_group()


# ----- the package stays optional --------------------------------------------------------
def test_import_minicnn_does_not_import_mpi4py():
    code = ("import sys, minicnn, minicnn.distributed, minicnn.nn.parallel; "
            "assert 'mpi4py' not in sys.modules, 'imported mpi4py'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_mpi_without_mpi4py_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)       # as if it were not installed
    assert not dist.is_available()
    with pytest.raises(ImportError, match=r'pip install -e "\.\[mpi\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_calls_before_init_process_group_are_clear_errors():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(ValueError, match="call minicnn.distributed.init_process_group"):
            call()
    with pytest.raises(RuntimeError, match="DistributedDataParallel needs a process group"):
        DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="init_process_group"):
        DistributedSampler(range(10))
    with pytest.raises(ValueError, match="unknown backend 'gloo'"):
        dist.init_process_group("gloo")


def test_launched_by_mpi_reads_the_launchers_environment(monkeypatch):
    for name in dist.LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not dist.launched_by_mpi()
    monkeypatch.setenv("PMI_SIZE", "2")          # what MPICH's mpiexec sets
    assert dist.launched_by_mpi()


# ----- threads per process under a launcher (minicnn/cpu/runtime.py) -------------------------
@pytest.mark.parametrize("environ, cores, expected", [
    ({"MPI_LOCALNRANKS": "2"}, 8, (4, 4, 4)),                      # MPICH's Hydra
    ({"OMPI_COMM_WORLD_LOCAL_SIZE": "3"}, 8, (2, 2, 2)),           # Open MPI: 8 // 3
    ({"MV2_COMM_WORLD_LOCAL_SIZE": "4"}, 16, (4, 4, 4)),           # MVAPICH2
    ({"SLURM_NTASKS_PER_NODE": "2"}, 6, (3, 3, 3)),                # srun
    ({"MPI_LOCALNRANKS": "4"}, 2, (1, 1, 1)),                      # more processes than cores
    ({"MPI_LOCALNRANKS": "2", "SLURM_NTASKS_PER_NODE": "8"}, 8, (4, 4, 4)),   # first one wins
    ({"MPI_LOCALNRANKS": "2", "OMP_NUM_THREADS": "3"}, 8, (4, None, 3)),      # explicit wins
    ({"MPI_LOCALNRANKS": "2", "OPENBLAS_NUM_THREADS": "1"}, 8, (4, None, 4)),
    ({"MPI_LOCALNRANKS": "2", "NUMBA_NUM_THREADS": "2"}, 8, (4, 4, None)),
    ({"MPI_LOCALNRANKS": "2", "OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "1"}, 8, (4, None, None)),
    ({"MPI_LOCALNRANKS": "2", "OMP_NUM_THREADS": "4,2"}, 8, (4, None, 4)),    # nested: BLAS's
])
def test_each_process_takes_its_share_of_the_cores(environ, cores, expected):
    runtime = pytest.importorskip("minicnn.cpu.runtime", reason="the CPU set-up needs Numba")
    counts = runtime.rank_thread_counts(environ, cores)
    assert (counts["share"], counts["blas"], counts["numba"]) == expected, counts
    assert counts["processes"] == int(next(v for k, v in environ.items() if "NUM_THREADS" not in k))


@pytest.mark.parametrize("environ", [{}, {"PMI_SIZE": "2"}, {"MPI_LOCALNRANKS": "1"},
                                     {"MPI_LOCALNRANKS": "two"}, {"OMP_NUM_THREADS": "1"}])
def test_no_launcher_or_one_process_here_changes_nothing(environ):
    """Outside mpiexec, with one process on this machine (the others elsewhere), or a count
    that cannot be read, the libraries keep their own thread counts."""
    runtime = pytest.importorskip("minicnn.cpu.runtime", reason="the CPU set-up needs Numba")
    assert runtime.rank_thread_counts(environ, 8) is None


# ----- a world of one ------------------------------------------------------------------------
@needs_mpi4py
def test_world_of_one_collectives(world_of_one):
    assert dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_node_local_rank()) == (0, 1, 0)
    x = np.array([[1.0, -2.0, 3.0]])
    for op in ("sum", "avg", "max", "min"):
        y = x.copy()
        dist.all_reduce(y, op=op)
        np.testing.assert_array_equal(y, x)
    t = mc.tensor([1.0, 2.0])
    dist.all_reduce(t, op=dist.ReduceOp.SUM, async_op=True).wait()
    dist.broadcast(t, src=0)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    dist.barrier()
    objects = [None]
    dist.all_gather_object(objects, {"acc": 0.5})
    assert objects == [{"acc": 0.5}]


@needs_mpi4py
def test_world_of_one_bad_calls(world_of_one):
    with pytest.raises(RuntimeError, match="already called"):
        dist.init_process_group("mpi")
    with pytest.raises(ValueError, match="unknown op 'mean'"):
        dist.all_reduce(np.ones(2), op="mean")
    with pytest.raises(TypeError, match="'avg' needs a floating-point array, got int64"):
        dist.all_reduce(np.ones(2, np.int64), op="avg")
    with pytest.raises(TypeError, match="expects a Tensor or a NumPy/CuPy array, got list"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(ValueError, match=r"src must be a rank in \[0, 0\], got 1"):
        dist.broadcast(np.ones(2), src=1)
    with pytest.raises(ValueError, match="one entry per process"):
        dist.all_gather_object([], 1)


@needs_mpi4py
def test_destroy_then_init_again():
    dist.init_process_group("mpi")
    dist.destroy_process_group()
    assert not dist.is_initialized()
    dist.init_process_group("mpi")
    assert dist.get_world_size() == 1
    dist.destroy_process_group()


def two_layer_net(seed):
    mc.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double()


@needs_mpi4py
def test_ddp_world_of_one_is_the_plain_model(world_of_one):
    model, plain = two_layer_net(0), two_layer_net(0)
    ddp = DistributedDataParallel(model, bucket_cap_mb=100 / 2 ** 20)   # one bucket per tensor
    assert len(ddp._buckets) == 4 and ddp.module is model
    assert list(ddp.state_dict()) == ["module." + k for k in plain.state_dict()]
    x = np.random.default_rng(0).standard_normal((6, 5))
    g = np.random.default_rng(1).standard_normal((6, 3))
    for _ in range(2):                  # a second backward accumulates, as without DDP
        ddp(mc.tensor(x)).backward(g)
        plain(mc.tensor(x)).backward(g)
        for p, q in zip(model.parameters(), plain.parameters()):
            np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    ddp.load_state_dict(ddp.state_dict())


@needs_mpi4py
def test_ddp_names_parameters_that_got_no_gradient(world_of_one):
    model = nn.ModuleDict({"used": nn.Linear(3, 2), "unused": nn.Linear(3, 2)})
    model.forward = lambda x: model["used"](x)
    ddp = DistributedDataParallel(model)
    x = mc.tensor(np.ones((2, 3), np.float32))
    ddp(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"no gradient for 2 parameter\(s\) that require "
                                           r"grad \(unused.bias, unused.weight\)"):
        ddp(x)


@needs_mpi4py
def test_ddp_no_sync_in_a_world_of_one_accumulates(world_of_one):
    model, plain = two_layer_net(1), two_layer_net(1)
    ddp = DistributedDataParallel(model)
    x = mc.tensor(np.random.default_rng(2).standard_normal((4, 5)))
    with ddp.no_sync():
        ddp(x).sum().backward()
    assert not any(bucket.ready for bucket in ddp._buckets)     # nothing waiting to sync
    ddp(x).sum().backward()
    plain(x).sum().backward()
    plain(x).sum().backward()
    for p, q in zip(model.parameters(), plain.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


# ----- SyncBatchNorm -----------------------------------------------------------------------------
def bn_inputs(dtype, shape=(4, 3, 5, 5), seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    return x, rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)


@needs_mpi4py
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 3)])
def test_sync_batch_norm_world_of_one_equals_batch_norm_exactly(world_of_one, dtype, shape):
    x, w, b = bn_inputs(dtype, shape)
    g = np.random.default_rng(9).standard_normal(shape).astype(dtype)
    results = []
    for fn in (sync_batch_norm, lambda *a, **k: F.batch_norm(*a, training=True, **k)):
        X, W, Bias = (mc.Tensor(a.copy(), requires_grad=True) for a in (x, w, b))
        rm, rv = mc.tensor(np.zeros(shape[1], dtype)), mc.tensor(np.ones(shape[1], dtype))
        y = fn(X, rm, rv, W, Bias, momentum=0.3, eps=1e-5)
        y.backward(g)
        results.append([y, X.grad, W.grad, Bias.grad, rm, rv])
    for name, mine, theirs in zip(["out", "x grad", "w grad", "b grad", "running_mean",
                                   "running_var"], *results):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy(), err_msg=name)


@needs_mpi4py
def test_sync_batch_norm_matches_torch(world_of_one):
    x, w, b = bn_inputs(np.float64, (3, 4, 2, 3), seed=1)
    rm, rv = mc.tensor(np.zeros(4)), mc.tensor(np.ones(4))
    rmt, rvt = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    compare_with_torch(lambda x, w, b: sync_batch_norm(x, rm, rv, w, b, momentum=0.2),
                       lambda x, w, b: TF.batch_norm(x, rmt, rvt, w, b, training=True,
                                                     momentum=0.2), x, w, b)
    assert_close(rm, rmt, name="running_mean")
    assert_close(rv, rvt, name="running_var")


@needs_mpi4py
def test_sync_batch_norm_gradcheck(world_of_one):
    x, w, b = (mc.Tensor(a, requires_grad=True) for a in bn_inputs(np.float64, (3, 2, 2, 2)))
    mc.gradcheck(lambda x, w, b: sync_batch_norm(x, None, None, w, b), x, w, b)


@needs_mpi4py
def test_sync_batch_norm_bad_input(world_of_one):
    with pytest.raises(ValueError, match=r"sync_batch_norm: expected weight of shape \(3,\) for "
                                         r"input \(4, 3\) with 3 channels, got \(2,\)"):
        sync_batch_norm(mc.tensor(np.ones((4, 3))), None, None, mc.tensor(np.ones(2)))
    with pytest.raises(ValueError, match=r"sync_batch_norm: expected input of shape \(N, C, \.\.\.\), got \(3,\)"):
        sync_batch_norm(mc.tensor(np.ones(3)), None, None)
    with pytest.raises(ValueError, match="more than 1 value per channel over all processes"):
        sync_batch_norm(mc.tensor(np.ones((1, 3))), None, None)
    layer = nn.SyncBatchNorm(3)
    with pytest.raises(ValueError, match=r"SyncBatchNorm\(3.*expected input shaped"):
        layer(mc.tensor(np.ones((2, 4, 5, 5), np.float32)))


@pytest.mark.parametrize("training", [True, False])
def test_sync_batchnorm_module_alone_is_batchnorm2d(training):
    """Without a process group (or with one process), SyncBatchNorm is BatchNorm, as in PyTorch."""
    x, _, _ = bn_inputs(np.float32)
    sync, plain = nn.SyncBatchNorm(3, momentum=None), nn.BatchNorm2d(3, momentum=None)
    outputs = [layer.train(training)(mc.tensor(x)).numpy() for layer in (sync, plain)]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    for (name, a), b in zip(sync.state_dict().items(), plain.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_convert_sync_batchnorm_keeps_the_tensors_and_their_order():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.2, eps=1e-3),
                          nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4, affine=False)),
                          nn.ReLU())
    model.eval()
    before = model.state_dict(keep_vars=True)
    params = list(model.parameters())
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][1], nn.SyncBatchNorm)
    assert (model[1].momentum, model[1].eps, model[2][1].affine) == (0.2, 1e-3, False)
    assert not model[1].training
    after = model.state_dict(keep_vars=True)
    assert list(after) == list(before)
    assert all(after[k] is before[k] for k in before)          # the same Tensor objects
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]
    root = nn.BatchNorm2d(2)
    assert isinstance(nn.SyncBatchNorm.convert_sync_batchnorm(root), nn.SyncBatchNorm)


# ----- DistributedSampler --------------------------------------------------------------------
SAMPLER_CASES = [(10, 3), (11, 4), (8, 4), (3, 5), (1, 2)]      # (dataset length, replicas)


@pytest.mark.parametrize("n, replicas", SAMPLER_CASES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_matches_torch(n, replicas, drop_last):
    from torch.utils.data import DistributedSampler as TorchSampler
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        torchs = TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(torchs), (rank, drop_last)
        assert len(ours) == len(torchs)
        # shuffled: torch draws with its own generator; same lengths, and the shards together
        # are a padded (or cut) permutation, the same for every rank
        ours = DistributedSampler(range(n), replicas, rank, shuffle=True, seed=3,
                                  drop_last=drop_last)
        assert len(list(ours)) == len(ours) == len(TorchSampler(range(n), replicas, rank,
                                                                drop_last=drop_last))


@pytest.mark.parametrize("n, replicas", SAMPLER_CASES)
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_shards_partition_a_permutation(n, replicas, drop_last):
    shards = [list(DistributedSampler(range(n), replicas, r, seed=5, drop_last=drop_last))
              for r in range(replicas)]
    everything = sorted(i for shard in shards for i in shard)
    if drop_last:     # disjoint shards, the tail of the permutation cut
        assert len(set(everything)) == len(everything) == replicas * (n // replicas)
    else:             # every index at least once, padded to equal shards
        assert set(everything) == set(range(n))
        assert len(everything) == replicas * -(-n // replicas)
    interleaved = [shards[r][k] for k in range(len(shards[0])) for r in range(replicas)]
    order = interleaved[:min(n, len(interleaved))]
    assert len(set(order)) == len(order)       # rank r takes every replicas-th of one order


def test_distributed_sampler_set_epoch_reshuffles_the_same_way_everywhere():
    def shard(rank, epoch):
        sampler = DistributedSampler(range(20), 2, rank, seed=1)
        sampler.set_epoch(epoch)
        return list(sampler)
    assert shard(0, 0) == shard(0, 0) and shard(0, 0) != shard(0, 1)
    assert sorted(shard(0, 1) + shard(1, 1)) == list(range(20))
    assert shard(0, 1) != list(range(0, 20, 2))


def test_distributed_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"invalid rank 2, rank should be in the interval "
                                         r"\[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be a positive int, got 0"):
        DistributedSampler(range(4), num_replicas=0, rank=0)


def test_dataloader_takes_its_order_from_a_sampler():
    data = TensorDataset(np.arange(10.0)[:, None], np.arange(10))
    sampler = DistributedSampler(data, num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(data, batch_size=2, sampler=sampler)
    assert len(loader) == 2 and [y.tolist() for _, y in loader] == [[1, 4], [7, 0]]
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(data, sampler=sampler, shuffle=True)


# ----- several processes: mpiexec -n 2 -------------------------------------------------------
def run_mpi(script, *args, processes=2, timeout=90):
    """Run a script of tests/mpi_scripts/ under mpiexec; returns (exit status, stdout, stderr).
    A job still running after ``timeout`` seconds is killed, with every process it started."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MINICNN_NUMBA="0")   # NumPy kernels: no Numba compile in every process; the
    # distributed logic is the same whichever kernel runs
    job = subprocess.Popen([MPIEXEC, "-n", str(processes), sys.executable,
                            os.path.join(SCRIPTS, script), *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env, cwd=SCRIPTS,
                           start_new_session=True)
    try:
        stdout, stderr = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        stdout, stderr = job.communicate()
        pytest.fail(f"mpiexec {script} hung: no exit within {timeout}s\n{stdout}\n{stderr}")
    return job.returncode, stdout, stderr


def assert_all_ok(result, *checks, processes=2):
    status, stdout, stderr = result
    report = f"exit status {status}\n{stdout}\n{stderr}"
    assert status == 0, report
    for check in checks:
        for rank in range(processes):
            assert f"rank {rank} ok: {check}" in stdout, report


@needs_mpiexec
def test_mpi_collectives():
    assert_all_ok(run_mpi("collectives.py"), "all_reduce ops",
                  "all_reduce integers, tensors, views, async",
                  "broadcast, all_gather_object, barrier", "host staging")


@needs_mpiexec
def test_mpi_ddp_trains_like_one_process_with_the_whole_batch():
    assert_all_ok(run_mpi("ddp_train.py"), "broadcast at construction", "ddp training")


@needs_mpiexec
def test_mpi_sync_batchnorm_trains_like_one_process_with_the_whole_batch():
    assert_all_ok(run_mpi("ddp_train.py", "--sync-bn"), "broadcast at construction",
                  "sync-bn training", "sync-bn uneven batches")


@needs_mpiexec
def test_mpi_no_sync_accumulates_then_averages():
    assert_all_ok(run_mpi("ddp_no_sync.py"), "no_sync keeps gradients local",
                  "accumulated gradients averaged")


@needs_mpiexec
def test_mpi_a_failing_rank_aborts_the_job():
    status, stdout, stderr = run_mpi("fail_fast.py", timeout=60)   # a hang fails in run_mpi
    assert status != 0
    assert "planned failure on rank 1" in stderr
    assert "rank 1 failed; aborting all 2 processes" in stderr
    assert "it should have been aborted" not in stdout


@needs_mpiexec
def test_scaling_benchmark_runs_and_writes_json(tmp_path, monkeypatch, capsys):
    """benchmarks/distributed.py end to end, tiny (no timing is asserted)."""
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location(
        "minicnn_benchmark_distributed", os.path.join(ROOT, "benchmarks", "distributed.py"))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    monkeypatch.setenv("MINICNN_NUMBA", "0")
    out = tmp_path / "distributed.json"
    benchmark.main(["--steps", "1", "--warmup", "0", "--repeat", "1", "--batch", "4",
                    "--image-size", "8", "--json", str(out)])
    rows = json.loads(out.read_text())["results"]
    assert [r["processes"] for r in rows] == [1, 2]
    assert all(r["images_per_s"] > 0 and r["parameters"] == 30762 for r in rows)
    assert "| 2 |" in capsys.readouterr().out


@needs_mpiexec
def test_mpi_processes_share_the_cores_unless_told(tmp_path):
    """Under ``mpiexec -n 2`` with no thread variables each process sets BLAS, Numba and
    minicnn's convolution pool to max(1, cores // 2), and rank 0 says so in one line."""
    pytest.importorskip("numba", reason="the thread set-up runs when the Numba kernels load")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MINICNN_NUMBA")}
    job = subprocess.run([MPIEXEC, "-n", "2", sys.executable, os.path.join(SCRIPTS, "thread_share.py"),
                          str(tmp_path)],
                         capture_output=True, text=True, env=dict(env, PYTHONPATH=ROOT), cwd=SCRIPTS,
                         timeout=90)
    assert job.returncode == 0, job.stderr
    reports = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("rank*.json"))]
    assert sorted(r["rank"] for r in reports) == [0, 1], job.stdout
    for report in reports:
        share = max(1, report["machine_cores"] // 2)
        assert report["numba"] == report["pool_cores"] == share, report
        assert all(n == share for n in report["blas"]), report   # [] without OpenBLAS
    assert job.stderr.count("processes share this machine's") == 1, job.stderr
