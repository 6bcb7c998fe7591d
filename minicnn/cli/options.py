"""What the commands share on the command line: the examples, the training options of
`train` and `finetune` with their defaults, how a subcommand is declared, and the
checks of option values (``positive_int``, ``fraction``, ...: argparse ``type=``
functions, so a bad value is a one-line usage error, exit status 2)."""
import argparse
import math
import os

from .datasets import DATASET_HELP
from .factories import OPTIMIZERS

EPILOG = """\
examples:
  python -m minicnn train                                   # the main job: small CNN on the digits
  python -m minicnn train --epochs 20 --optimizer adam --schedule plateau --augment
  python -m minicnn train --model resnet18 --dataset cifar10:~/data --image-size 32 --device cuda
  python -m minicnn train --resume runs/small_cnn-digits-20250101-120000/checkpoint.npz --epochs 20
  python -m minicnn evaluate runs/small_cnn-digits-20250101-120000/checkpoint.npz
  python -m minicnn finetune --model resnet18 --weights resnet18-f37072fd.pth \\
         --dataset folder:~/data/flowers --freeze-body --head-lr 0.01
  python -m minicnn summary vgg16 --input 3,224,224
  python -m minicnn gradcheck resnet18                      # compare with PyTorch (needs torch)
  python -m minicnn bench

Each training run writes checkpoint.npz, metrics.jsonl and curves.png to --out.
Guides: docs/training.md and docs/transfer-learning.md.
"""

TRAIN_DEFAULTS = dict(model="small_cnn", dataset="digits", epochs=10, batch_size=32,
                      optimizer="sgd", lr=None, momentum=None, weight_decay=None,
                      schedule="cosine", warmup=0, label_smoothing=0.0, augment=False,
                      image_size=None, val_split=0.0, limit=None, device="cpu", seed=0,
                      prefetch=2, aux_weight=None, weights=None, freeze_body=False,
                      head_lr=None, body_lr=None, normalize="none")


class Parser(argparse.ArgumentParser):
    """argparse's parser, reporting a usage mistake on one line instead of printing the
    whole usage first; exit status 2, as argparse."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ----- option values -----------------------------------------------------------------
def checked(name, parse, ok, expected):
    """An argparse ``type=`` function: ``parse(text)``, accepted when ``ok(value)``;
    otherwise the usage error "expected <expected>, got '<text>'"."""
    def check(text):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    check.__name__ = name
    return check


positive_int = checked("positive_int", int, lambda v: v >= 1, "a whole number >= 1")
nonnegative_int = checked("nonnegative_int", int, lambda v: v >= 0, "a whole number >= 0")
# (NaN fails every comparison, so these refuse it too)
positive_float = checked("positive_float", float, lambda v: 0 < v < math.inf,
                         "a finite number > 0")
nonnegative_float = checked("nonnegative_float", float, lambda v: 0 <= v < math.inf,
                            "a finite number >= 0")
probability = checked("probability", float, lambda v: 0 <= v <= 1, "a number from 0 to 1")
fraction = checked("fraction", float, lambda v: 0 <= v < 1,
                   "a number from 0 up to (not including) 1")


def add_command(subparsers, name, run, **kwargs):
    """The parser of subcommand ``name``, which calls ``run(args)``.  ``help`` (the line in
    `minicnn --help`) and ``description`` default to ``run``'s docstring; both are shown as
    written, line breaks included."""
    kwargs.setdefault("help", run.__doc__)
    kwargs.setdefault("description", kwargs["help"])
    parser = subparsers.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   **kwargs)
    parser.set_defaults(run=run)
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of "
                        "an error instead of one line (or set MINICNN_DEBUG=1)")
    return parser


def debug_requested(args):
    """--debug or MINICNN_DEBUG=1: show tracebacks instead of one-line errors."""
    return getattr(args, "debug", False) or os.environ.get("MINICNN_DEBUG", "") not in ("", "0")


def resolve(args, defaults, saved=None):
    """Settings: the defaults, overridden by a resumed run's saved config, overridden by
    the options given on this command line (those not None)."""
    cfg = dict(defaults)
    cfg.update({k: v for k, v in (saved or {}).items() if k in defaults})
    cfg.update({k: v for k, v in vars(args).items() if k in defaults and v is not None})
    return cfg


def add_training_options(p, finetune=False):
    """The options of `train` and `finetune`.  Each defaults to None, so that `resolve` can
    tell an option given on the command line from one to take from a resumed run."""
    d = TRAIN_DEFAULTS
    default_model = "resnet18, or the checkpoint's model" if finetune else d["model"]
    p.add_argument("--model", help=f"a minicnn.models name (default {default_model}): "
                   "small_cnn, alexnet, vgg11..vgg19[_bn], googlenet, resnet18..resnet152, "
                   "inception_v3, ...")
    p.add_argument("--dataset", help=DATASET_HELP)
    p.add_argument("--epochs", type=positive_int,
                   help=f"total number of epochs (default {d['epochs']})")
    p.add_argument("--batch-size", type=positive_int,
                   help=f"images per step (default {d['batch_size']})")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default sgd")
    p.add_argument("--lr", type=positive_float,
                   help="learning rate (default sgd 0.05, rmsprop 0.01, "
                   "adam/adamw 0.001)")
    p.add_argument("--momentum", type=nonnegative_float,
                   help="sgd/rmsprop momentum (default sgd 0.9)")
    p.add_argument("--weight-decay", type=nonnegative_float,
                   help="L2 penalty (default sgd 5e-4, adamw 0.01)")
    p.add_argument("--schedule", choices=["none", "step", "multistep", "plateau", "cosine"],
                   help="learning-rate schedule per epoch (default cosine); plateau divides the "
                   "lr by 10 when the validation loss stalls for 2 epochs")
    p.add_argument("--warmup", type=nonnegative_int,
                   help="epochs of linear warm-up from lr/10 (default 0)")
    p.add_argument("--label-smoothing", type=probability,
                   help="target = (1-eps) one-hot + eps/classes")
    p.add_argument("--aux-weight", type=nonnegative_float,
                   help="loss weight of auxiliary heads (default "
                   "0.3 for GoogLeNet, 0.4 for Inception v3)")
    p.add_argument("--augment", action="store_true", default=None,
                   help="random crops after padding (and mirroring for CIFAR); random resized "
                   "crops and mirroring for folder datasets")
    p.add_argument("--image-size", type=positive_int,
                   help="resize images to this size (e.g. 32 to feed "
                   "digits to resnet18, 224 for ImageNet-sized networks)")
    p.add_argument("--val-split", type=fraction, help="hold out this fraction of the training "
                   "images for validation (default 0: validate on the test split, as the "
                   "torchvision reference scripts validate on ImageNet's validation set)")
    p.add_argument("--limit", type=positive_int, help="use at most this many images of each split "
                   "(a quick try)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default cpu")
    p.add_argument("--prefetch", type=nonnegative_int,
                   help="batches prepared ahead by a background thread "
                   "(default 2)")
    p.add_argument("--normalize", choices=["none", "imagenet"], help="input normalisation "
                   "(default none; imagenet when fine-tuning torchvision weights)")
    p.add_argument("--out", help="output folder (default runs/<model>-<dataset>-<time>, made "
                   "unique); a folder that already holds files is refused unless it is the "
                   "one of --resume, or --overwrite is given")
    p.add_argument("--overwrite", action="store_true", help="train into a --out folder that "
                   "holds an earlier run, replacing its checkpoint, metrics, curves and test "
                   "result")
    p.add_argument("--resume", help="continue from a checkpoint.npz of an earlier run (its "
                   "settings are reused; options given here override them)")
    p.add_argument("--seed", type=nonnegative_int,
                   help="seed of initialisation, shuffling, augmentation "
                   "and dropout (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
