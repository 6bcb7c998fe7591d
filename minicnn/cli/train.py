"""`minicnn train`: train a model and report its test accuracy.  `minicnn finetune`
(finetune.py) runs the same code, starting from pretrained weights."""
import json
import os
import time

import numpy as np

import minicnn as mc
from minicnn import train as training
from .datasets import make_datasets, make_loaders, num_classes_of, parse_dataset
from .factories import (OPTIMIZERS, build_finetune_model, build_model, build_optimizer,
                        build_scheduler, read_weights)
from .options import EPILOG, TRAIN_DEFAULTS, add_command, add_training_options, resolve


def add_parser(subparsers):
    p = add_command(subparsers, "train", run, epilog=EPILOG, description=run.__doc__ +
                    "\n\nWith no options: small_cnn on the embedded digits, 10 epochs of SGD "
                    "(momentum 0.9, lr 0.05, cosine schedule), about 99% test accuracy.")
    add_training_options(p)


def plural(n, word):
    return f"{n} {word}{'s' if n != 1 else ''}"


def run(args):
    """Train a model (by default a small CNN on the embedded digits) and report test accuracy."""
    saved = None
    if args.resume:
        saved = mc.io.load_checkpoint(args.resume).get("config")
    finetune = args.command == "finetune" or bool(saved and saved.get("weights"))
    cfg = resolve(args, TRAIN_DEFAULTS, saved)
    if finetune and not cfg["weights"]:
        raise SystemExit("minicnn: finetune needs --weights PATH (.pth or minicnn checkpoint)")
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
    out = args.out or (os.path.dirname(os.path.abspath(args.resume)) if args.resume else
                       os.path.join("runs", f"{cfg['model']}-{dataset_name}-"
                                            f"{time.strftime('%Y%m%d-%H%M%S')}"))
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
    history = training.fit(model, train_loader,
                           val_loader if val_loader is not None else test_loader,
                           optimizer, cfg["epochs"], scheduler,
                           label_smoothing=cfg["label_smoothing"], aux_weight=cfg["aux_weight"],
                           device=cfg["device"], out_dir=out, resume=args.resume, config=config,
                           title=f"{cfg['model']} on {cfg['dataset']}",
                           progress=not args.no_progress)
    if val_loader is None and history:        # validated on the test split: already measured
        test = {key: history[-1][f"val_{key}"] for key in ("loss", "acc1", "acc5")}
    else:
        test = training.evaluate(model, test_loader, device=cfg["device"])
    seconds = time.perf_counter() - start
    with open(os.path.join(out, "test.json"), "w", encoding="utf-8") as f:
        json.dump({**test, "images": len(test_set), "epochs": len(history)}, f)
    print(f"test accuracy {test['acc1']:.2%} (top-5 {test['acc5']:.2%}, loss {test['loss']:.4f}) "
          f"on {len(test_set)} images after {plural(len(history), 'epoch')}; time {seconds:.1f}s; "
          f"wrote {os.path.join(out, training.CHECKPOINT)}, {training.METRICS}, {training.CURVES}")
    return 0
