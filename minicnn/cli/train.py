"""`minicnn train`: train a model and report its test accuracy.  `minicnn finetune`
(finetune.py) runs the same code, starting from pretrained weights.

Under ``mpiexec -n N`` the N processes train one model data-parallel (docs/distributed.md):
each builds the same run from the same settings (``prepare``: every check and every user
error happens here, on every process alike), then (``execute``) the model is wrapped in
DistributedDataParallel and trained on each process's share of the data; rank 0 alone
prints and writes the run folder.  An error on some processes only would leave the others
waiting forever in their next collective call, so: errors while preparing are gathered and
reported by rank 0, every process exiting with the same status; an error while executing
that may differ between processes ends the whole job (MPI_Abort).
"""
import importlib
import itertools
import json
import os
import sys
import time
import types

import numpy as np

import minicnn as mc
from minicnn import backend, distributed as dist, nn, train as training
from minicnn.io.files import atomic_path
from minicnn.nn.parallel import DistributedDataParallel
from .datasets import (check_augmentation, check_same_classes, classes_of, download_dataset,
                       make_datasets, make_loaders, parse_dataset, where, with_download_root)
from .factories import (GREY_MODELS, OPTIMIZERS, RMSPROP_DEFAULTS, build_finetune_model,
                        build_model, build_optimizer, build_scheduler, read_weights)
from .options import (EPILOG, RECIPES, TRAIN_DEFAULTS, add_command, add_training_options,
                      debug_requested, given_options, recipe_for, resolve)


def add_parser(subparsers):
    p = add_command(subparsers, "train", run, epilog=EPILOG, description=run.__doc__ +
                    "\n\nWith no options: small_cnn on the embedded digits, 10 epochs of SGD "
                    "(momentum 0.9, lr 0.05, cosine schedule), about 99% test accuracy.")
    add_training_options(p)


def plural(n, word):
    return f"{n} {word}{'s' if n != 1 else ''}"


def run(args):
    """Train a model (by default a small CNN on the embedded digits) and report test accuracy."""
    rank, world = join_processes()
    if world == 1:
        job = prepare(args, rank, world)
        if job is None:
            return 0
        with job.claim:
            return execute(job)
    job = prepare_together(args, rank, world)
    if job is None:
        return 0
    try:
        with job.claim:
            return execute(job)
    except training.TrainingDiverged:       # found by every process at the same step
        if rank == 0:
            raise
        return 1
    except BaseException as error:         # (Ctrl-C included)
        end_job(error, rank, debug_requested(args))


# ----- several processes (mpiexec) ---------------------------------------------------------
def join_processes():
    """(rank, world size): the MPI job's when started by mpiexec, else (0, 1)."""
    if not dist.launched_by_mpi():
        return 0, 1
    try:
        dist.init_process_group("mpi")
    except ImportError as error:             # the same on every process
        raise SystemExit(str(error)) from None
    return dist.get_rank(), dist.get_world_size()


def prepare_together(args, rank, world):
    """``prepare`` on every process; if it failed on any, rank 0 reports the first
    failure (one line) and every process exits with its status."""
    from minicnn.cli import USER_ERRORS, one_line      # (the package imports this module)
    job, failure = None, None
    try:
        job = prepare(args, rank, world)
    except SystemExit as error:                 # (a message, or a status)
        code = error.code
        failure = (1, code) if isinstance(code, str) else (code or 0, None)
    except USER_ERRORS as error:
        if debug_requested(args):
            raise
        failure = (1, one_line(error))
    failures = [None] * world
    dist.all_gather_object(failures, failure)   # the first collective call of the job
    failed = [(r, f) for r, f in enumerate(failures) if f is not None]
    if not failed:
        return job
    first_rank, (status, message) = failed[0]
    if rank == 0 and message:
        print(message + (f" (on rank {first_rank})" if first_rank != 0 else ""),
              file=sys.stderr)
    raise SystemExit(status)


def end_job(error, rank, debug):
    """An error while training that other processes may not share: report it and end
    every process of the job, which would otherwise wait forever for this one."""
    from minicnn.cli import one_line
    from mpi4py import MPI
    if isinstance(error, KeyboardInterrupt):
        status = 130
        if rank == 0:
            print("minicnn: interrupted; ending every process of the job", file=sys.stderr)
    else:
        status = 1
        if debug:
            import traceback
            traceback.print_exception(error)
        print(f"{one_line(error)} (rank {rank}; ending every process of the job)",
              file=sys.stderr, flush=True)
    dist.abort_job(MPI.COMM_WORLD, status)


# ----- one run: prepare (the same on every process), execute --------------------------------
def prepare(args, rank, world):
    """Check the settings, then build data, model, optimizer, schedule and loaders: the
    same on every process (no communication, no files written).  Returns None after
    --print-config."""
    saved, done = None, 0
    if args.resume:
        ckpt = mc.io.load_checkpoint(args.resume)
        saved, done = ckpt.get("config"), int(ckpt.get("epoch") or 0)
        check_resumed_settings(args, saved or {})
    finetune = args.command == "finetune" or bool(saved and saved.get("weights"))
    cfg = resolve(args, TRAIN_DEFAULTS, saved)
    if finetune and not cfg["weights"]:
        raise SystemExit("minicnn: finetune needs --weights: DEFAULT or another weights name "
                         "of the model, a .pth file or a minicnn checkpoint.npz")
    if args.download:
        cfg["dataset"] = with_download_root(cfg["dataset"])
    if args.resume and cfg["epochs"] <= done:
        raise SystemExit(f"minicnn: {args.resume} has already trained {plural(done, 'epoch')}; "
                         f"give --epochs N with N > {done} to continue it")
    check_augmentation(cfg)
    if args.print_config:
        if rank == 0:
            print(json.dumps(cfg, indent=1, sort_keys=True))
        return None
    if cfg["device"] == "cuda":
        backend.require_cupy()                     # no GPU: say so before loading anything
    if args.download:
        download_dataset(cfg["dataset"], progress=not args.no_progress)
    out = args.out or (os.path.dirname(os.path.abspath(args.resume)) if args.resume else None)
    if out is not None:
        check_output_folder(out, args)
    mc.manual_seed(cfg["seed"])

    # a weights name (DEFAULT, ...) is the model's: --model, else the one resumed, else resnet18
    weights_model = cfg["model"] if (args.model or saved) else "resnet18"
    state, base_cfg = (read_weights(cfg["weights"], weights_model, not args.no_progress)
                       if finetune else (None, None))
    if finetune and args.model is None and not saved:
        # fine-tuning a minicnn checkpoint: by default the model it was trained as
        cfg["model"] = base_cfg["model"] if base_cfg else "resnet18"
    if finetune and args.normalize is None and not (saved and "normalize" in saved):
        # torchvision's weights expect ImageNet-normalised input; a minicnn checkpoint
        # expects what its own training used
        cfg["normalize"] = base_cfg.get("normalize", "none") if base_cfg else "imagenet"
    rgb = cfg["model"] not in GREY_MODELS or (base_cfg or {}).get("rgb", False)
    train_set, val_set, test_set = make_datasets(cfg, rgb)
    classes = classes_of(train_set)              # (make_datasets checked test's are the same)
    num_classes = len(classes)
    if saved and saved.get("classes") is not None:
        check_same_classes(saved["classes"], classes, f"the resumed run ({args.resume})",
                           f"--dataset {cfg['dataset']}")
    # (the test split draws no random numbers; with --ten-crop an image is (10, C, H, W))
    in_channels = int(np.shape(test_set[0][0])[-3])
    if cfg["lighting"] and in_channels != 3:
        raise SystemExit(f"minicnn: --lighting shifts RGB colours; these images have "
                         f"{plural(in_channels, 'channel')} (a model for RGB input, e.g. "
                         "--model resnet18, makes grey images RGB)")
    if finetune:
        model, params = build_finetune_model(cfg, state, num_classes, in_channels)
    else:
        model = build_model(cfg["model"], num_classes, in_channels)
        params = model.parameters()
    if cfg["device"] == "cuda" and world > 1:      # one GPU per process on each machine
        import cupy
        cupy.cuda.Device(dist.get_node_local_rank() % cupy.cuda.runtime.getDeviceCount()).use()
    model.to(cfg["device"])
    optimizer = build_optimizer(cfg, params)
    scheduler = build_scheduler(cfg, optimizer)
    loaders = make_loaders(cfg, train_set, val_set, test_set, rank, world)
    # Last: a failure above leaves no folder behind.  Rank 0 alone writes the folder.
    claim = claim_output_folder(out, args) if out is not None and rank == 0 else FolderClaim()
    return types.SimpleNamespace(args=args, cfg=cfg, rank=rank, world=world, out=out, claim=claim,
                                 finetune=finetune,
                                 rgb=rgb, model=model, optimizer=optimizer, scheduler=scheduler, loaders=loaders,
                                 sizes=(len(train_set), None if val_set is None else len(val_set), len(test_set)),
                                 num_classes=num_classes, classes=classes,
                                 in_channels=in_channels)


def execute(job):
    """Train as ``prepare`` set up; rank 0 prints and writes the run folder."""
    args, cfg, rank, world, out = job.args, job.cfg, job.rank, job.world, job.out
    model = job.model
    if world > 1:
        if cfg["sync_bn"]:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = DistributedDataParallel(model)        # rank 0's weights everywhere
    talk = rank == 0
    if world > 1 and cfg["device"] == "cpu" and backend.numba_enabled():
        # each process takes its share of the cores (minicnn/cpu/runtime.py) and says so now,
        # before the first line of output, not when the first kernel loads minicnn.cpu
        importlib.import_module("minicnn.cpu")
    n_train, n_val, n_test = job.sizes
    if talk:
        if out is None:
            out = new_run_folder(os.path.join(
                "runs", f"{cfg['model']}-{parse_dataset(cfg['dataset'])[0]}-"
                        f"{time.strftime('%Y%m%d-%H%M%S')}"))
        else:
            prepare_output_folder(out, args)
        if cfg["recipe"]:
            print(describe_recipe(cfg, given_options(args, TRAIN_DEFAULTS)))
        n_params = sum(p.numel() for p in model.parameters())
        # Which images steer the run (the schedule, the curves) and which judge it.
        images = (f"{n_train} training, {n_val} validation (held out from the training "
                  f"images), {n_test} test images (used once, at the end)" if n_val is not None
                  else f"{n_train} training and {n_test} test images, the test images also "
                  "validating every epoch (--val-split 0: the schedule and the curves see the "
                  "test set)")
        processes = (f"{world} processes x {cfg['batch_size']} images per step"
                     f"{' (SyncBatchNorm)' if cfg['sync_bn'] else ''}; " if world > 1 else "")
        print(f"{'fine-tuning' if job.finetune else 'training'} {cfg['model']} "
              f"({n_params:,} parameters) on {cfg['dataset']}: {images}; "
              f"{plural(cfg['epochs'], 'epoch')}, {cfg['optimizer']} lr "
              f"{cfg['lr'] or OPTIMIZERS[cfg['optimizer']][0]}, {cfg['schedule']} schedule; "
              f"{processes}device {cfg['device']}; writing to {out}")
    config = {**cfg, "command": "finetune" if job.finetune else "train",
              "num_classes": job.num_classes, "classes": job.classes,
              "in_channels": job.in_channels,
              "rgb": bool(job.rgb)}
    start = time.perf_counter()
    train_loader, val_loader, test_loader = job.loaders
    checkpoint = os.path.join(out, training.CHECKPOINT) if talk else None
    try:
        history = training.fit(model, train_loader,
                               val_loader if val_loader is not None else test_loader,
                               job.optimizer, cfg["epochs"], job.scheduler,
                               label_smoothing=cfg["label_smoothing"],
                               aux_weight=cfg["aux_weight"], clip_grad_norm=cfg["clip_grad_norm"],
                               plateau_metric=cfg["plateau_metric"], device=cfg["device"],
                               out_dir=out if talk else None, resume=args.resume, config=config,
                               title=f"{cfg['model']} on {cfg['dataset']}",
                               progress=talk and not args.no_progress,
                               log=print if talk else None)
    except KeyboardInterrupt:
        if debug_requested(args) or world > 1:
            raise
        last = (f"the last checkpoint is {checkpoint} (continue with --resume {checkpoint})"
                if os.path.isfile(checkpoint) else "no checkpoint was written yet")
        print(f"minicnn: interrupted; {last}", file=sys.stderr)
        return 130
    if val_loader is None and history:        # validated on the test split: already measured
        test = {key: history[-1][f"val_{key}"] for key in ("loss", "acc1", "acc5")}
    else:                                     # (every process takes part)
        test = training.evaluate(model, test_loader, device=cfg["device"])
    if not talk:
        return 0
    seconds = time.perf_counter() - start
    with atomic_path(os.path.join(out, TEST_RESULT)) as tmp, \
            open(tmp, "w", encoding="utf-8") as f:
        json.dump({**test, "images": n_test, "epochs": len(history)}, f)
    print(f"test accuracy {test['acc1']:.2%} (top-5 {test['acc5']:.2%}, loss {test['loss']:.4f}) "
          f"on {n_test} images after {plural(len(history), 'epoch')}; time {seconds:.1f}s; "
          f"wrote {checkpoint}, {training.METRICS}, {training.CURVES}")
    return 0


# ----- recipes --------------------------------------------------------------------------------
def describe_recipe(cfg, given):
    """The recipe's settings in full, one per line, marking those the command line changed
    and those left out because they do not suit the data (``options.recipe_for``)."""
    name = cfg["recipe"]
    _, left_out = recipe_for(name, cfg["dataset"])
    lines = [f"recipe {name} (settings; see docs/training.md for their sources):"]
    for key, value in RECIPES[name].items():
        option = "--" + key.replace("_", "-")
        if key in given and given[key] != value:
            lines.append(f"  {option:22s} {cfg[key]}   (given; the recipe says {value})")
        elif key in left_out:
            lines.append(f"  {option:22s} {cfg[key]}   (the recipe's {value} left out on "
                         f"{cfg['dataset']}: {left_out[key]})")
        else:
            lines.append(f"  {option:22s} {value}")
    return "\n".join(lines)


# ----- resuming: the optimizer comes from the checkpoint ---------------------------------
RESUMED_OPTIMIZER_SETTINGS = ("optimizer", "lr", "momentum", "weight_decay", "rmsprop_alpha",
                              "rmsprop_eps")


def check_resumed_settings(args, saved):
    """A resumed run continues with the optimizer settings and state in its checkpoint
    (as ``Optimizer.load_state_dict`` restores them), and with its recipe's settings: an
    option on the command line that says otherwise is an error, not silently ignored."""
    name = saved.get("optimizer", TRAIN_DEFAULTS["optimizer"])
    defaults = {"optimizer": name, **RMSPROP_DEFAULTS,
                **dict(zip(("lr", "momentum", "weight_decay"), OPTIMIZERS.get(name, ())))}
    for key in RESUMED_OPTIMIZER_SETTINGS:
        given = getattr(args, key, None)
        kept = saved.get(key) if saved.get(key) is not None else defaults.get(key)
        if given is not None and given != kept:
            raise SystemExit(f"minicnn: --{key.replace('_', '-')} {given} differs from the "
                             f"resumed run's {kept}: a resumed run continues with the "
                             "optimizer in its checkpoint; start a new run (--out) to change it")
    if args.model is not None and saved.get("model") and args.model != saved["model"]:
        raise SystemExit(f"minicnn: --model {args.model} differs from the resumed run's "
                         f"{saved['model']}: a resumed run continues its model (its weights "
                         "fit no other); start a new run (--out), or finetune from it")
    if args.recipe is not None and args.recipe != saved.get("recipe"):
        raise SystemExit(f"minicnn: --recipe {args.recipe} differs from the resumed run's "
                         f"{saved.get('recipe') or 'settings (no recipe)'}: a resumed run keeps "
                         "its settings; start a new run (--out) to use another recipe")


# ----- the run folder --------------------------------------------------------------------
TEST_RESULT = "test.json"
RUN_FILES = (training.CHECKPOINT, training.METRICS, training.CURVES, TEST_RESULT)


def check_output_folder(out, args):
    """Before anything is loaded: --out must be a folder we may write into, and one that
    holds files only when they are the resumed run's (or with --overwrite)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise SystemExit(f"minicnn: --out {out} is a file, not a folder")
    if os.path.isdir(out) and os.listdir(out) and not (resuming_into(out, args) or args.overwrite):
        raise SystemExit(f"minicnn: --out {out} already holds files (an earlier run?); "
                         f"continue that run with --resume {os.path.join(out, training.CHECKPOINT)}"
                         ", choose another --out, or pass --overwrite to replace it")
    existing = out
    while not os.path.exists(existing):           # the folder, or where it will be made
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing):
        raise SystemExit(f"minicnn: --out {out}: {existing} is a file, not a folder, so no "
                         "folder can be made inside it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SystemExit(f"minicnn: cannot write to {existing} (--out {out}): permission denied "
                         "or a read-only file system")


class FolderClaim:
    """A run's hold on its --out folder: an exclusive ``flock`` on the folder itself, which
    the system releases when the process ends, however it ends (no stale lock to clean
    up).  A context manager: leaving it releases the hold."""

    def __init__(self, fd=None):
        self.fd = fd

    def release(self):
        if self.fd is not None:
            os.close(self.fd)                     # (closing it releases the lock)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def claim_output_folder(out, args):
    """Make --out and become its one writer: another run that holds it (training into it
    now) is refused, and so is a folder that an earlier run filled after
    ``check_output_folder`` looked (two runs started at once both found it empty)."""
    try:
        import fcntl
    except ImportError:                           # Windows: no flock; the check above only
        check_output_folder(out, args)
        return FolderClaim()
    os.makedirs(out, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SystemExit(f"minicnn: --out {out} is in use: another run is writing into it now; "
                         "choose another --out, or wait for that run to end") from None
    except BaseException:
        os.close(fd)
        raise
    claim = FolderClaim(fd)
    try:
        check_output_folder(out, args)            # again, now that no other run can write
    except BaseException:
        claim.release()
        raise
    return claim


def resuming_into(out, args):
    """Whether --out is the folder of the --resume checkpoint (the run continues there)."""
    return bool(args.resume) and os.path.isdir(out) and os.path.samefile(
        os.path.dirname(os.path.abspath(args.resume)), out)


def prepare_output_folder(out, args):
    """Make --out; with --overwrite (and not resuming from it), delete the earlier run's
    files first, so that the folder never mixes two runs."""
    os.makedirs(out, exist_ok=True)
    if args.overwrite and not resuming_into(out, args):
        for name in RUN_FILES:
            if os.path.isfile(os.path.join(out, name)):
                os.remove(os.path.join(out, name))


def new_run_folder(base):
    """Make and return the folder ``base``, or ``base-2``, ``base-3``, ... when it exists:
    two runs started in the same second get folders of their own (``mkdir`` either
    creates a folder or fails, atomically, so two processes never both get one)."""
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    for n in itertools.count(1):
        folder = base if n == 1 else f"{base}-{n}"
        try:
            os.mkdir(folder)
            return folder
        except FileExistsError:
            continue
