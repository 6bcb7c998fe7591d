"""`minicnn evaluate`: the accuracy of a saved model on a dataset split."""
import numpy as np

import minicnn as mc
from minicnn import train as training
from .datasets import (DATASET_HELP, check_model_classes, first_images, load_split,
                       make_transforms, parse_dataset)
from .factories import GREY_MODELS, build_model, fold_batch_norms, num_classes_in, read_weights
from .options import TRAIN_DEFAULTS, add_command, positive_int, resolve


def add_parser(subparsers):
    p = add_command(subparsers, "evaluate", run)
    p.add_argument("checkpoint", help="checkpoint.npz of a run, or a .pth file (with --model)")
    p.add_argument("--model", help="model name (read from a minicnn checkpoint)")
    p.add_argument("--dataset", help=f"default: the run's dataset; {DATASET_HELP}")
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--image-size", type=positive_int)
    p.add_argument("--limit", type=positive_int)
    p.add_argument("--normalize", choices=["none", "imagenet"])
    p.add_argument("--device", choices=["cpu", "cuda"])
    p.add_argument("--ten-crop", action="store_true", default=None, help="score each image by "
                   "the softmax averaged over ten crops (default: as the run was validated)")
    p.add_argument("--no-fuse-bn", action="store_true", help="keep batch norms apart (by "
                   "default each is folded into the convolution before it: the same outputs "
                   "within float rounding, faster)")
    p.add_argument("--no-progress", action="store_true")


def run(args):
    """Evaluate a saved model (minicnn checkpoint, or a .pth with --model) on a dataset."""
    state, saved = read_weights(args.checkpoint)
    saved = saved or {}
    if saved.get("model") is None and args.model is None:
        raise SystemExit("minicnn: evaluate: a .pth file needs --model NAME")
    cfg = resolve(args, TRAIN_DEFAULTS, saved)
    cfg["limit"] = args.limit                 # the whole split, unless asked otherwise
    if not saved:
        cfg["normalize"] = args.normalize or "imagenet"
    rgb = saved.get("rgb", cfg["model"] not in GREY_MODELS)
    cfg["augment"], cfg["val_split"] = False, 0.0
    kind, path = parse_dataset(cfg["dataset"])
    dataset = load_split(cfg, kind, path, args.split,
                         make_transforms(cfg, kind, False, rgb, cfg["ten_crop"]))
    check_model_classes(saved, num_classes_in(state), dataset, f"the model ({args.checkpoint})",
                        f"--dataset {cfg['dataset']}")
    dataset = first_images(dataset, cfg["limit"])
    model = build_model(cfg["model"], num_classes_in(state), saved.get("in_channels", 3),
                        weights=state)
    first = np.asarray(dataset[0][0])                    # (C, H, W), or (crops, C, H, W)
    example = mc.tensor(first.reshape((-1,) + first.shape[-3:])[:1])
    model = fold_batch_norms(model, example, not args.no_fuse_bn)
    model.to(cfg["device"])
    loader = mc.data.DataLoader(dataset, batch_size=cfg["batch_size"], prefetch=cfg["prefetch"])
    result = training.evaluate(model, loader, device=cfg["device"], progress=not args.no_progress)
    print(f"{cfg['model']} on {cfg['dataset']} ({args.split}, {len(dataset)} images): "
          f"accuracy {result['acc1']:.2%}, top-5 {result['acc5']:.2%}, loss {result['loss']:.4f}")
    return 0
