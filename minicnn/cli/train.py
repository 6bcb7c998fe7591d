"""`minicnn train`: train a model and report its test accuracy.  `minicnn finetune`
(finetune.py) runs the same code, starting from pretrained weights."""
import itertools
import json
import os
import sys
import time

import numpy as np

import minicnn as mc
from minicnn import backend, train as training
from .datasets import make_datasets, make_loaders, num_classes_of, parse_dataset
from .factories import (OPTIMIZERS, build_finetune_model, build_model, build_optimizer,
                        build_scheduler, read_weights)
from .options import (EPILOG, TRAIN_DEFAULTS, add_command, add_training_options,
                      debug_requested, resolve)


def add_parser(subparsers):
    p = add_command(subparsers, "train", run, epilog=EPILOG, description=run.__doc__ +
                    "\n\nWith no options: small_cnn on the embedded digits, 10 epochs of SGD "
                    "(momentum 0.9, lr 0.05, cosine schedule), about 99% test accuracy.")
    add_training_options(p)


def plural(n, word):
    return f"{n} {word}{'s' if n != 1 else ''}"


def run(args):
    """Train a model (by default a small CNN on the embedded digits) and report test accuracy."""
    saved, done = None, 0
    if args.resume:
        ckpt = mc.io.load_checkpoint(args.resume)
        saved, done = ckpt.get("config"), int(ckpt.get("epoch") or 0)
        check_resumed_optimizer(args, saved or {})
    finetune = args.command == "finetune" or bool(saved and saved.get("weights"))
    cfg = resolve(args, TRAIN_DEFAULTS, saved)
    if finetune and not cfg["weights"]:
        raise SystemExit("minicnn: finetune needs --weights PATH (.pth or minicnn checkpoint)")
    if args.resume and cfg["epochs"] <= done:
        raise SystemExit(f"minicnn: {args.resume} has already trained {plural(done, 'epoch')}; "
                         f"give --epochs N with N > {done} to continue it")
    if cfg["device"] == "cuda":
        backend.require_cupy()                     # no GPU: say so before loading anything
    out = args.out or (os.path.dirname(os.path.abspath(args.resume)) if args.resume else None)
    if out is not None:
        check_output_folder(out, args)
    mc.manual_seed(cfg["seed"])

    state, base_cfg = read_weights(cfg["weights"]) if finetune else (None, None)
    if finetune and args.model is None and not saved:
        # fine-tuning a minicnn checkpoint: by default the model it was trained as
        cfg["model"] = base_cfg["model"] if base_cfg else "resnet18"
    if finetune and args.normalize is None and not (saved and "normalize" in saved):
        # torchvision's weights expect ImageNet-normalised input; a minicnn checkpoint
        # expects what its own training used
        cfg["normalize"] = base_cfg.get("normalize", "none") if base_cfg else "imagenet"
    rgb = cfg["model"] != "small_cnn" or (base_cfg or {}).get("rgb", False)
    train_set, val_set, test_set = make_datasets(cfg, rgb)
    num_classes = num_classes_of(test_set)
    in_channels = int(np.shape(test_set[0][0])[0])    # (the test split draws no random numbers)
    if finetune:
        model, params = build_finetune_model(cfg, state, num_classes, in_channels)
    else:
        model = build_model(cfg["model"], num_classes, in_channels)
        params = model.parameters()
    model.to(cfg["device"])
    optimizer = build_optimizer(cfg, params)
    scheduler = build_scheduler(cfg, optimizer)
    loaders = make_loaders(cfg, train_set, val_set, test_set)

    dataset_name = parse_dataset(cfg["dataset"])[0]
    if out is None:
        out = new_run_folder(os.path.join("runs", f"{cfg['model']}-{dataset_name}-"
                                                  f"{time.strftime('%Y%m%d-%H%M%S')}"))
    else:
        prepare_output_folder(out, args)
    n_params = sum(p.numel() for p in model.parameters())
    validation = (f"{len(val_set)} validation" if val_set is not None else
                  f"{len(test_set)} validation (= test)")
    print(f"{'fine-tuning' if finetune else 'training'} {cfg['model']} ({n_params:,} parameters) "
          f"on {cfg['dataset']}: {len(train_set)} training, {validation} images; "
          f"{plural(cfg['epochs'], 'epoch')}, {cfg['optimizer']} lr "
          f"{cfg['lr'] or OPTIMIZERS[cfg['optimizer']][0]}, {cfg['schedule']} schedule; "
          f"device {cfg['device']}; writing to {out}")
    config = {**cfg, "command": "finetune" if finetune else "train", "num_classes": num_classes,
              "in_channels": in_channels, "rgb": bool(rgb)}
    start = time.perf_counter()
    train_loader, val_loader, test_loader = loaders
    checkpoint = os.path.join(out, training.CHECKPOINT)
    try:
        history = training.fit(model, train_loader,
                               val_loader if val_loader is not None else test_loader,
                               optimizer, cfg["epochs"], scheduler,
                               label_smoothing=cfg["label_smoothing"],
                               aux_weight=cfg["aux_weight"], device=cfg["device"], out_dir=out,
                               resume=args.resume, config=config,
                               title=f"{cfg['model']} on {cfg['dataset']}",
                               progress=not args.no_progress)
    except KeyboardInterrupt:
        if debug_requested(args):
            raise
        last = (f"the last checkpoint is {checkpoint} (continue with --resume {checkpoint})"
                if os.path.isfile(checkpoint) else "no checkpoint was written yet")
        print(f"minicnn: interrupted; {last}", file=sys.stderr)
        return 130
    if val_loader is None and history:        # validated on the test split: already measured
        test = {key: history[-1][f"val_{key}"] for key in ("loss", "acc1", "acc5")}
    else:
        test = training.evaluate(model, test_loader, device=cfg["device"])
    seconds = time.perf_counter() - start
    with open(os.path.join(out, TEST_RESULT), "w", encoding="utf-8") as f:
        json.dump({**test, "images": len(test_set), "epochs": len(history)}, f)
    print(f"test accuracy {test['acc1']:.2%} (top-5 {test['acc5']:.2%}, loss {test['loss']:.4f}) "
          f"on {len(test_set)} images after {plural(len(history), 'epoch')}; time {seconds:.1f}s; "
          f"wrote {checkpoint}, {training.METRICS}, {training.CURVES}")
    return 0


# ----- resuming: the optimizer comes from the checkpoint ---------------------------------
def check_resumed_optimizer(args, saved):
    """A resumed run continues with the optimizer settings and state in its checkpoint
    (as ``Optimizer.load_state_dict`` restores them): an optimizer option on the command
    line that says otherwise is an error, not silently ignored."""
    name = saved.get("optimizer", TRAIN_DEFAULTS["optimizer"])
    defaults = dict(zip(("lr", "momentum", "weight_decay"), OPTIMIZERS.get(name, ())))
    for key in ("optimizer", "lr", "momentum", "weight_decay"):
        given = getattr(args, key, None)
        kept = saved.get(key) if saved.get(key) is not None else defaults.get(key, name)
        if given is not None and given != kept:
            raise SystemExit(f"minicnn: --{key.replace('_', '-')} {given} differs from the "
                             f"resumed run's {kept}: a resumed run continues with the "
                             "optimizer in its checkpoint; start a new run (--out) to change it")


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
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SystemExit(f"minicnn: cannot write to {existing} (--out {out}): permission denied "
                         "or a read-only file system")


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
