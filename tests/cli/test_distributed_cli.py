"""`mpiexec -n 2 python -m minicnn train`: data-parallel training from the command line.

The runs are real MPI jobs (2 processes, one thread each); they are skipped, with the
reason, where mpi4py or mpiexec is missing (`pip install -e ".[test]"` installs both).
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.__main__ import main
from minicnn.cli.datasets import make_datasets, make_loaders
from minicnn.cli.options import TRAIN_DEFAULTS
from tests.test_distributed import MPIEXEC, needs_mpiexec

# One thread per process: 2 processes on 2 cores (see docs/distributed.md)
ENV = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
TEST_IMAGES = 355                       # the embedded digits' test split
VAL_IMAGES = 144                        # held out of its 1,442 training images (--val-split 0.1)
EPOCHS = ["--epochs", "3"]


def mpiexec(cwd, *argv, python=("-m", "minicnn", "train"), timeout=120):
    """Run ``python -m minicnn train ARGV`` (or ``python PYTHON``) in 2 processes."""
    return subprocess.run([MPIEXEC, "-n", "2", sys.executable, *python, *argv], cwd=cwd,
                          env=ENV, capture_output=True, text=True, timeout=timeout)


def assert_whole_counts(fraction, n, what):
    """An accuracy over n images is a whole number of images / n (one measured on part of
    them, e.g. one process's share, generally is not)."""
    assert abs(fraction * n - round(fraction * n)) < 1e-6, (what, fraction, fraction * n)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """3 epochs on the digits: 2 processes x 16 images per step, and for comparison 1
    process x 32 (the default) -- the same global batches (see the test below)."""
    cwd = tmp_path_factory.mktemp("mpi")
    result = mpiexec(cwd, *EPOCHS, "--batch-size", "16", "--no-progress")
    assert result.returncode == 0, result.stderr
    single = tmp_path_factory.mktemp("single")
    assert main(["train", *EPOCHS, "--out", str(single), "--no-progress"]) == 0
    return cwd, result, single


@needs_mpiexec
def test_two_processes_reach_the_single_process_accuracy(two_process_run):
    """Tolerance 2 points (7 of 355 images).  Both runs take the same steps on the same
    global batches -- DistributedSampler deals one shuffle out alternately, so the two
    shards of 16 are the single run's batch of 32 -- with the same batch-norm statistics
    (SyncBatchNorm).  What differs: dropout masks (each process draws its own) and float32
    rounding (sums in another order), which move a few borderline images."""
    cwd, result, single = two_process_run
    (run,) = os.listdir(cwd / "runs")               # exactly one run folder: rank 0's
    two = json.loads((cwd / "runs" / run / "test.json").read_text())
    one = json.loads((single / "test.json").read_text())
    assert two["acc1"] >= 0.95 and abs(two["acc1"] - one["acc1"]) <= 0.02, (two, one)
    assert two["images"] == TEST_IMAGES and two["epochs"] == 3
    # the accuracies cover the whole validation and test sets, each image once (not rank
    # 0's half)
    records = mc.train.read_metrics(cwd / "runs" / run / "metrics.jsonl")
    for r in records:
        for key in ("val_acc1", "val_acc5"):
            assert_whole_counts(r[key], VAL_IMAGES, key)
    assert_whole_counts(two["acc1"], TEST_IMAGES, "test acc1")
    assert result.stdout.count("test accuracy") == 1           # rank 0 alone prints
    assert result.stdout.count("epoch   1/3") == 1 and "2 processes x 16" in result.stdout
    assert set(os.listdir(cwd / "runs" / run)) == {"checkpoint.npz", "metrics.jsonl",
                                                    "curves.png", "test.json"}


@needs_mpiexec
def test_a_two_process_checkpoint_resumes_on_one_process(two_process_run, tmp_path, capsys):
    cwd, _, _ = two_process_run
    (run,) = os.listdir(cwd / "runs")
    shutil.copytree(cwd / "runs" / run, tmp_path / "run")
    ckpt = tmp_path / "run" / "checkpoint.npz"
    saved = mc.io.load_checkpoint(ckpt)
    assert not any(k.startswith("module.") for k in saved["model"])    # the plain model's keys
    assert main(["train", "--resume", str(ckpt), "--epochs", "4", "--no-progress"]) == 0
    assert "resumed from" in capsys.readouterr().out
    records = mc.train.read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    # the 4th epoch continued from the trained weights (a fresh model's first epoch: ~1.0)
    assert records[3]["train_loss"] < 0.2 and records[3]["val_acc1"] >= 0.95


@needs_mpiexec
def test_a_mistake_under_mpiexec_ends_the_job_with_one_message(tmp_path):
    result = mpiexec(tmp_path, "--model", "lenet", timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("unknown model 'lenet'") == 1, result.stderr   # rank 0 reports
    assert "Traceback" not in result.stderr and not os.path.exists(tmp_path / "runs")


# Failures on one process only: the other would wait forever in its next collective call.
RANK = "int(os.environ.get('PMI_RANK', os.environ.get('OMPI_COMM_WORLD_RANK', 0)))"
ONE_RANK_FAILS = {
    # while preparing: e.g. the dataset missing on one machine
    "prepare": ("import minicnn.cli.datasets as d; real = d.load_split\n"
                "def load_split(*a):\n"
                "    if rank == 1: raise FileNotFoundError('minicnn: no such folder /data')\n"
                "    return real(*a)\n"
                "d.load_split = load_split\n"),
    # while training: e.g. the disk of rank 0's run folder full
    "execute": ("import minicnn.train as t\n"
                "def write_metrics(*a): raise OSError('minicnn: disk full')\n"
                "t.write_metrics = write_metrics\n"),
}


@needs_mpiexec
@pytest.mark.parametrize("phase", list(ONE_RANK_FAILS))
def test_a_failure_on_one_process_ends_the_whole_job(tmp_path, phase):
    script = tmp_path / "job.py"
    script.write_text(f"import os, sys\nrank = {RANK}\n{ONE_RANK_FAILS[phase]}"
                      "from minicnn.cli import main\n"
                      "sys.exit(main(['train', '--limit', '64', '--epochs', '2', "
                      "'--no-progress']))\n")
    result = mpiexec(tmp_path, python=(str(script),), timeout=90)   # a hang fails here
    assert result.returncode != 0, result.stderr
    if phase == "prepare":     # reported once, by rank 0, naming the rank that failed
        assert result.returncode == 1
        assert result.stderr.count("no such folder /data (on rank 1)") == 1, result.stderr
    else:
        assert "epoch 1 was trained but could not be saved" in result.stderr
        assert "(minicnn: disk full)" in result.stderr
        assert "(rank 0; ending every process of the job)" in result.stderr


# ----- without MPI: each process's share of the data ---------------------------------------
def test_the_loaders_of_two_processes_share_out_the_data():
    cfg = dict(TRAIN_DEFAULTS, limit=100, prefetch=0)
    train, _, test = make_datasets(cfg, rgb=False)
    shares = [make_loaders(cfg, train, None, test, rank, 2) for rank in (0, 1)]
    train_idx = [np.concatenate(loaders[0].batch_indices()) for loaders in shares]
    # the same number of steps, disjoint halves of one shuffle of the 100 images
    assert len(shares[0][0]) == len(shares[1][0]) == 100 // 2 // cfg["batch_size"]
    assert not set(train_idx[0]) & set(train_idx[1])
    test_idx = [list(loaders[2].dataset.indices) for loaders in shares]
    assert sorted(test_idx[0] + test_idx[1]) == list(range(100))     # every image once
    one = make_loaders(cfg, train, None, test)
    assert one[2].dataset is test and len(one[0].sampler) == 100
