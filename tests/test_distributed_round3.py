"""DistributedDataParallel checks that every process holds the same model; collectives
have a timeout that ends a job some process left (sys.exit, fewer batches), naming the
rank and the collective.  Multi-process claims run under ``mpiexec -n 2`` (scripts in
tests/mpi_scripts/), with a timeout of 2 seconds."""
import datetime
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minicnn.distributed as dist
from minicnn import nn
from minicnn.nn.parallel import DistributedDataParallel

SCRIPTS = os.path.join(os.path.dirname(__file__), "mpi_scripts")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = (shutil.which("mpiexec", path=os.path.dirname(sys.executable))
           or shutil.which("mpiexec"))
needs_mpi4py = pytest.mark.skipif(not dist.is_available(), reason="needs mpi4py")
needs_mpiexec = pytest.mark.skipif(not (dist.is_available() and MPIEXEC),
                                   reason="needs mpi4py and an mpiexec")


def run_mpi(script, *args, timeout=60, **env):
    """(exit status, stdout, stderr, seconds) of a tests/mpi_scripts/ script under mpiexec -n 2;
    a job still running after ``timeout`` seconds is killed and the test fails."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MINICNN_NUMBA="0", **env)
    start = time.monotonic()
    job = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, os.path.join(SCRIPTS, script),
                            *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, cwd=SCRIPTS, start_new_session=True)
    try:
        stdout, stderr = job.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        stdout, stderr = job.communicate()
        pytest.fail(f"mpiexec {script} {args} hung: no exit within {timeout}s\n{stdout}\n{stderr}")
    return job.returncode, stdout, stderr, time.monotonic() - start


@pytest.fixture
def world_of_one():
    dist.init_process_group("mpi")
    yield dist._require()
    dist.destroy_process_group()


# ----- DDP: the same model on every process ---------------------------------------------------
@needs_mpiexec
def test_ddp_refuses_models_that_differ_across_processes():
    status, stdout, stderr, _ = run_mpi("ddp_same_model.py")
    assert status == 0, f"{stdout}\n{stderr}"
    for check in ("shapes differ, total size equal", "parameter counts differ", "dtypes differ",
                  "the same model is accepted"):
        for rank in (0, 1):
            assert f"rank {rank} ok: {check}" in stdout, f"{stdout}\n{stderr}"


@needs_mpi4py
def test_ddp_in_a_world_of_one_accepts_its_model(world_of_one):
    model = DistributedDataParallel(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)))
    assert [name for name, _ in model.named_parameters()][:2] == ["module.0.weight",
                                                                  "module.0.bias"]


# ----- collectives time out -------------------------------------------------------------------
@needs_mpiexec
@pytest.mark.parametrize("case,collective", [
    ("exit", "all_reduce"),                  # rank 1 ends with sys.exit(0)
    ("uneven", "all_reduce"),                # DDP: rank 1 has 2 batches, rank 0 has 3
    ("barrier", "barrier"), ("broadcast", "broadcast"),
    ("all_gather_object", "all_gather_object"),
])
def test_a_collective_nobody_joins_ends_the_job_after_the_timeout(case, collective):
    status, stdout, stderr, seconds = run_mpi("timeout.py", case, timeout=45,
                                              MINICNN_DIST_TIMEOUT="2")
    report = f"exit status {status} after {seconds:.1f}s\n{stdout}\n{stderr}"
    assert status != 0, report
    assert "rank 0 timeout 2" in stdout, report           # the environment's, or init's
    assert (f"minicnn.distributed: rank 0: {collective} did not complete within 2 s"
            in stderr), report
    assert "aborting all 2 processes" in stderr and "MINICNN_DIST_TIMEOUT" in stderr, report
    assert "rank 0 reached the end" not in stdout, report
    if case == "uneven":
        assert "rank 0 step 1 done" in stdout and "rank 0 step 2 done" not in stdout, report


class NeverDone:
    """An MPI request that never completes (after 5 s it fails the test instead of hanging)."""
    def __init__(self):
        self.start = time.monotonic()

    def Test(self):
        assert time.monotonic() - self.start < 5, "wait() never timed out"
        return False


@needs_mpi4py
def test_wait_ends_the_job_after_the_timeout_naming_rank_and_collective(world_of_one, monkeypatch,
                                                                         capsys):
    aborted = []

    def fake_abort(comm, status):
        aborted.append(status)
        raise SystemExit(status)
    monkeypatch.setattr(dist, "abort_job", fake_abort)
    world_of_one.timeout = 0.2
    start = time.monotonic()
    with pytest.raises(SystemExit):
        world_of_one.wait(NeverDone(), "broadcast")
    assert 0.2 <= time.monotonic() - start < 5 and aborted == [1]
    err = capsys.readouterr().err
    assert "rank 0: broadcast did not complete within 0.2 s" in err
    assert "test_wait_ends_the_job_after_the_timeout" in err        # where it waited


@needs_mpi4py
def test_collectives_in_a_world_of_one_still_work_with_a_short_timeout():
    dist.init_process_group("mpi", timeout=0.5)
    try:
        a = np.arange(3.0)
        dist.all_reduce(a, op="avg")
        dist.broadcast(a, src=0)
        dist.barrier()
        gathered = [None]
        dist.all_gather_object(gathered, {"x": [1, 2]})
        assert a.tolist() == [0.0, 1.0, 2.0] and gathered == [{"x": [1, 2]}]
    finally:
        dist.destroy_process_group()


@needs_mpi4py
@pytest.mark.parametrize("timeout,env,expected", [
    (None, None, 1800.0), (None, "5", 5.0), (datetime.timedelta(minutes=2), "5", 120.0),
    (3, None, 3.0), (0.5, None, 0.5),
])
def test_the_timeout_comes_from_init_then_the_environment_then_the_default(
        monkeypatch, timeout, env, expected):
    if env is None:
        monkeypatch.delenv(dist.TIMEOUT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(dist.TIMEOUT_VARIABLE, env)
    dist.init_process_group("mpi", timeout=timeout)
    try:
        assert dist._require().timeout == expected
    finally:
        dist.destroy_process_group()


@needs_mpi4py
@pytest.mark.parametrize("timeout,env,named", [
    (0, None, "timeout"), (-1.0, None, "timeout"), ("10", None, "timeout"),
    (datetime.timedelta(0), None, "timeout"), (True, None, "timeout"),
    (float("nan"), None, "timeout"), (None, "ten", "MINICNN_DIST_TIMEOUT"),
    (None, "0", "MINICNN_DIST_TIMEOUT"),
])
def test_a_bad_timeout_is_one_clear_error(monkeypatch, timeout, env, named):
    if env is None:
        monkeypatch.delenv(dist.TIMEOUT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(dist.TIMEOUT_VARIABLE, env)
    with pytest.raises(ValueError, match=rf"init_process_group: {named} must be a positive "
                                         "number of seconds or a datetime.timedelta, got"):
        dist.init_process_group("mpi", timeout=timeout)
    assert not dist.is_initialized()
