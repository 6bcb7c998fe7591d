"""Data-parallel scaling: training throughput with 1, 2, ... processes (weak scaling).

    python benchmarks/distributed.py                       # 1 and 2 processes, 3 runs each
    python benchmarks/distributed.py --processes 1 2 4 --batch 64 --steps 30
    python benchmarks/distributed.py --threads auto        # minicnn's own share of the cores
    mpiexec -n 2 python benchmarks/distributed.py --worker # one measurement (what the above runs)

Every process trains minicnn's small CNN (``models.small_cnn``, its BatchNorm layers converted
to SyncBatchNorm, wrapped in DistributedDataParallel, SGD with momentum) on its own
synthetic batch of ``--batch`` MNIST-shaped images, so the work per process is fixed and N
processes do N times the work of one ("weak scaling", the way data-parallel training grows).
Each process uses ``--threads`` threads (default 1: one core per process); ``--threads auto``
sets no thread variable, so each process takes minicnn's default: all cores for one process,
max(1, cores // N) for each of N (minicnn/cpu/runtime.py).  ``--busy-cores N`` keeps N
cores busy with spinning processes meanwhile (minicnn.benchmarking.busy_cores).

Each world size runs ``--repeat`` times (interleaved with the others) and the median counts.
Reported per world size: images/s over all processes (the slowest process sets the pace: the
timed steps end with a barrier), speed-up over 1 process, efficiency = speed-up / processes,
and the time of one all-reduce of a gradient-sized float32 array on its own.
The results also go to --json (default benchmarks/results/distributed.json).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "results", "distributed.json")


def worker(args):
    """One process of the job: time ``args.steps`` training steps; rank 0 prints a JSON line."""
    import numpy as np
    import minicnn as mc
    import minicnn.distributed as dist
    import minicnn.functional as F
    from minicnn import models, nn, optim
    from minicnn.nn.parallel import DistributedDataParallel

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    mc.manual_seed(0)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(models.small_cnn(num_classes=10))
    ddp = DistributedDataParallel(model)
    optimizer = optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(rank)
    size = args.image_size
    images = mc.tensor(rng.standard_normal((args.batch, 1, size, size)).astype(np.float32))
    labels = mc.tensor(rng.integers(0, 10, args.batch))

    def step():
        loss = F.cross_entropy(ddp(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(args.warmup):       # Numba compiles its kernels on first use
        step()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    dist.barrier()                     # the slowest process decides
    seconds = time.perf_counter() - start

    n_params = sum(p.numel() for p in model.parameters())
    gradients = np.zeros(n_params, np.float32)
    dist.barrier()
    start = time.perf_counter()
    for _ in range(20):
        dist.all_reduce(gradients)
    allreduce_ms = (time.perf_counter() - start) / 20 * 1e3
    if rank == 0:
        print(json.dumps({"processes": world, "batch_per_process": args.batch,
                          "steps": args.steps, "seconds": seconds,
                          "images_per_s": world * args.batch * args.steps / seconds,
                          "parameters": n_params, "allreduce_ms": allreduce_ms}), flush=True)


def run_world(args, processes, mpiexec):
    """Start ``mpiexec -n processes`` on this script in worker mode; rank 0's result."""
    variables = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in variables}
    if args.threads != "auto":
        env.update({name: str(args.threads) for name in variables})
    command = [mpiexec, "-n", str(processes), sys.executable, os.path.abspath(__file__),
               "--worker", "--batch", str(args.batch), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--image-size", str(args.image_size)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def threads_option(text):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of threads or 'auto', got {text!r}") from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=64, help="images per process and step")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--threads", type=threads_option, default=1,
                        help="threads per process, or 'auto': minicnn's choice (default 1)")
    parser.add_argument("--busy-cores", type=int, default=0, metavar="N",
                        help="keep N cores busy with spinning processes while measuring")
    parser.add_argument("--repeat", type=int, default=3, help="runs per world size (median)")
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    mpiexec = (shutil.which("mpiexec", path=os.path.dirname(sys.executable))
               or shutil.which("mpiexec"))
    if mpiexec is None:
        raise SystemExit('benchmarks/distributed.py needs mpiexec: pip install -e ".[mpi]"')
    from minicnn.benchmarking import busy_cores
    runs = {n: [] for n in args.processes}
    with busy_cores(args.busy_cores):
        for _ in range(args.repeat):       # interleaved, so a change in the machine's load
            for n in args.processes:       # touches every world size alike
                runs[n].append(run_world(args, n, mpiexec))
    rows = []
    for n, results in runs.items():    # the run of median throughput, with every run's rate
        results.sort(key=lambda r: r["images_per_s"])
        rows.append({**results[len(results) // 2],
                     "images_per_s_runs": [r["images_per_s"] for r in results]})
    base = rows[0]["images_per_s"] / rows[0]["processes"]     # one process's rate
    print(f"small_cnn, {args.image_size}x{args.image_size} images, batch {args.batch} per "
          f"process, {args.threads} thread(s) per process, {os.cpu_count()} cores, "
          f"{args.busy_cores} kept busy\n")
    print("| processes | images/s (median) | speed-up | efficiency | all runs, images/s | "
          "all-reduce of the gradients |")
    print("|---:|---:|---:|---:|---|---:|")
    for row in rows:
        row["speedup"] = row["images_per_s"] / base
        row["efficiency"] = row["speedup"] / row["processes"]
        every = ", ".join(f"{r:.0f}" for r in row["images_per_s_runs"])
        print(f"| {row['processes']} | {row['images_per_s']:.0f} | {row['speedup']:.2f}x | "
              f"{row['efficiency']:.0%} | {every} | {row['allreduce_ms']:.3f} ms |")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": {k: v for k, v in vars(args).items() if k != "worker"},
                       "cpu_count": os.cpu_count(), "platform": platform.platform(),
                       "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
