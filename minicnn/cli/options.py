"""What the commands share on the command line: the examples, the training options of
`train` and `finetune` with their defaults, how a subcommand is declared, and the
checks of option values (``positive_int``, ``fraction``, ...: argparse ``type=``
functions, so a bad value is a one-line usage error, exit status 2)."""
import argparse
import math
import os

from .datasets import DATASET_HELP
from .factories import OPTIMIZERS, SCHEDULES

EPILOG = """\
examples:
  python -m minicnn train                                   # the main job: small CNN on the digits
  python -m minicnn train --epochs 20 --optimizer adam --schedule plateau --augment
  python -m minicnn train --model resnet18 --dataset cifar10:~/data --image-size 32 --device cuda
  python -m minicnn train --model resnet20 --data cifar10 --download --augment
  python -m minicnn train --resume runs/small_cnn-digits-20250101-120000/checkpoint.npz --epochs 20
  python -m minicnn train --recipe resnet --dataset folder:~/imagenet --epochs 90
  python -m minicnn train --recipe vgg --print-config       # the settings a recipe resolves to
  mpiexec -n 2 python -m minicnn train                      # data-parallel, batch 32 per process
  python -m minicnn evaluate runs/small_cnn-digits-20250101-120000/checkpoint.npz
  python -m minicnn finetune --model resnet18 --weights DEFAULT \\
         --dataset folder:~/data/flowers --freeze-body --head-lr 0.01
  python -m minicnn predict cat.jpg --model resnet50 --weights DEFAULT
  python -m minicnn summary vgg16 --input 3,224,224
  python -m minicnn gradcheck resnet18                      # compare with PyTorch (needs torch)
  python -m minicnn bench

Each training run writes checkpoint.npz, metrics.jsonl and curves.png to --out.
Guides: docs/training.md, docs/transfer-learning.md and docs/distributed.md.
"""

TRAIN_DEFAULTS = dict(model="small_cnn", dataset="digits", epochs=10, batch_size=32,
                      optimizer="sgd", lr=None, momentum=None, weight_decay=None,
                      rmsprop_alpha=None, rmsprop_eps=None, schedule="cosine", warmup=0,
                      lr_gamma=None, lr_step_epochs=None, plateau_metric="val_loss",
                      plateau_patience=2, clip_grad_norm=None, label_smoothing=0.0,
                      augment=False, random_crop=False, random_resized_crop=False, flip=False,
                      scale_jitter=None, lighting=0.0, subtract_mean=False, channel_mean=None,
                      ten_crop=False, image_size=None, val_split=0.1, limit=None, device="cpu",
                      seed=0, prefetch=2, aux_weight=None, weights=None, freeze_body=False,
                      head_lr=None, body_lr=None, normalize="none", recipe=None,
                      sync_bn=True)
# (channel_mean is not an option: --subtract-mean measures it on the training images)

# ----- lecture recipes: `train --recipe NAME` ---------------------------------------------
# Each paper's ImageNet training settings as options; options given on the command line
# override them, and they override TRAIN_DEFAULTS.  The number of epochs is left to --epochs
# (the papers: AlexNet about 90, VGG 74, ResNet about 120, Inception v3 100).
# Where our settings differ from a paper, docs/training.md says how and why.
_ALEXNET = dict(model="alexnet", optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4,
                batch_size=128, schedule="plateau", plateau_metric="val_acc1", image_size=224,
                random_crop=True, flip=True, lighting=0.1, subtract_mean=True, ten_crop=True)
RECIPES = {
    # Krizhevsky, Sutskever & Hinton 2012, sections 4.1 and 5: lr divided by 10 "when the
    # validation error rate stopped improving"; random 224 crops of the 256x256 image and
    # their mirror images; PCA colour noise with std 0.1; the mean subtracted; the softmax
    # averaged over ten crops at test time.
    "alexnet": _ALEXNET,
    # Simonyan & Zisserman 2014, section 3.1: AlexNet's recipe with batch 256 and the
    # training scale S drawn from [256, 512] ("scale jittering").
    "vgg": dict(_ALEXNET, model="vgg16", batch_size=256, scale_jitter=[256, 512]),
    # He et al. 2015, section 3.4: shorter side from [256, 480], 224 crop, flip, colour
    # augmentation, mean subtracted; SGD lr 0.1 divided by 10 when the error plateaus,
    # batch 256, weight decay 1e-4, momentum 0.9; ten-crop testing.
    "resnet": dict(_ALEXNET, model="resnet18", lr=0.1, weight_decay=1e-4, batch_size=256,
                   scale_jitter=[256, 480]),
    # Szegedy et al. 2015 ("Rethinking the Inception Architecture"), sections 7 and 8:
    # RMSProp with decay 0.9 and epsilon 1.0, lr 0.045 decayed every two epochs by 0.94,
    # gradient clipping at 2.0, label smoothing 0.1, batch 32, 299x299 input.  Random
    # resized crops are the Inception augmentation (GoogLeNet paper, section 6); flips and
    # weight decay 4e-5 are those of the released model's training code (TF-slim), as the
    # paper gives neither.
    # Szegedy et al. 2014 ("Going deeper with convolutions"), section 6: SGD with momentum
    # 0.9, "decreasing the learning rate by 4% every 8 epochs"; crops of 8-100% of the
    # image's area with aspect ratio 3/4-4/3 (random resized crops).  The paper gives no
    # initial lr, weight decay, batch size or mirroring: lr 0.01, weight decay 2e-4, batch
    # 32 and flips are those of the BVLC Caffe replication made with the authors' help
    # (models/bvlc_googlenet: solver.prototxt, step 0.96 every 320,000 iterations of 32
    # images = 8 epochs of ImageNet; train_val.prototxt, mirror: true).  The auxiliary
    # classifiers' losses are weighted by 0.3 (train.AUX_WEIGHTS).
    "googlenet": dict(model="googlenet_2014", optimizer="sgd", lr=0.01, momentum=0.9,
                      weight_decay=2e-4, batch_size=32, schedule="step", lr_gamma=0.96,
                      lr_step_epochs=8, image_size=224, random_resized_crop=True, flip=True),
    "inception_v3": dict(model="inception_v3", optimizer="rmsprop", lr=0.045, momentum=0.0,
                         weight_decay=4e-5, rmsprop_alpha=0.9, rmsprop_eps=1.0,
                         schedule="exponential", lr_gamma=0.94, lr_step_epochs=2,
                         clip_grad_norm=2.0, label_smoothing=0.1, batch_size=32,
                         image_size=299, random_resized_crop=True, flip=True),
}


# A recipe is written for ImageNet's photos.  On other data, a setting that would change
# what an image shows is left out (and `train` prints which and why):
MIRRORING_CHANGES_THE_CLASS = {"digits", "mnist"}     # a mirrored 2, 3, 4, 7 is no digit
GREY_DATASETS = {"digits", "mnist", "fashion-mnist"}  # (fashion items mirror harmlessly)


def recipe_for(name, dataset):
    """``RECIPES[name]`` adapted to ``dataset`` (a --dataset value): returns the settings
    and ``{setting: why it was left out}``.  Flips suit natural images only; PCA colour
    noise suits colour photos only."""
    kind = dataset.partition(":")[0]
    settings, left_out = dict(RECIPES[name]), {}
    if settings.get("flip") and kind in MIRRORING_CHANGES_THE_CLASS:
        settings["flip"] = False
        left_out["flip"] = "a mirrored digit is not the same digit; flips suit natural images"
    if settings.get("lighting") and kind in GREY_DATASETS:
        settings["lighting"] = 0.0
        left_out["lighting"] = f"colour noise for colour photos; the {kind} images are grey"
    return settings, left_out


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
decay_factor = checked("decay_factor", float, lambda v: 0 < v < 1,
                       "a number between 0 and 1 (both excluded)")


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
    """Settings: the defaults, overridden by a resumed run's saved config (or, in a new run,
    by the --recipe), overridden by the options given on this command line (those not None)."""
    cfg = dict(defaults)
    if saved:
        cfg.update({k: v for k, v in saved.items() if k in defaults})
    elif getattr(args, "recipe", None):
        dataset = getattr(args, "dataset", None) or defaults["dataset"]
        cfg.update(recipe_for(args.recipe, dataset)[0])
    cfg.update(given_options(args, defaults))
    return cfg


def given_options(args, defaults):
    """The settings given on the command line (options left at None were not)."""
    return {k: v for k, v in vars(args).items() if k in defaults and v is not None}


def add_training_options(p, finetune=False):
    """The options of `train` and `finetune`.  Each defaults to None, so that `resolve` can
    tell an option given on the command line from one to take from a resumed run."""
    d = TRAIN_DEFAULTS
    default_model = "resnet18, or the checkpoint's model" if finetune else d["model"]
    p.add_argument("--recipe", choices=list(RECIPES), help="a paper's training settings "
                   "(optimizer, schedule, augmentation, model, ...), printed in full when used; "
                   "options given here override them (see docs/training.md)")
    p.add_argument("--print-config", action="store_true", help="print the settings this "
                   "command line resolves to (defaults, recipe, resumed run, options) and exit")
    p.add_argument("--model", help=f"a minicnn.models name (default {default_model}): "
                   "small_cnn, alexnet, vgg11..vgg19[_bn], googlenet, resnet18..resnet152, "
                   "resnext50_32x4d, wide_resnet50_2, mobilenet_v2, "
                   "inception_v3, ...; for 32x32 images (--dataset cifar10): resnet20..resnet110, "
                   "plain20..plain110, preact_resnet164, wrn28_10, ...")
    p.add_argument("--dataset", "--data", help=DATASET_HELP)
    p.add_argument("--download", action="store_true", help="fetch the --dataset's official "
                   "files first if missing (mnist, fashion-mnist, cifar10, cifar100: from "
                   "torchvision's sources, MD5-checked; see docs/interop.md)")
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
    p.add_argument("--rmsprop-alpha", type=fraction,
                   help="rmsprop: decay of the mean squared gradient (default 0.99)")
    p.add_argument("--rmsprop-eps", type=positive_float,
                   help="rmsprop: added to the root mean square (default 1e-8)")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="learning-rate schedule per epoch (default cosine): step multiplies "
                   "the lr by --lr-gamma every --lr-step-epochs, exponential too (with other "
                   "defaults), multistep at 50%% and 75%% of the epochs, plateau when "
                   "--plateau-metric stops improving for --plateau-patience epochs")
    p.add_argument("--lr-gamma", type=decay_factor, help="factor of each decrease of the lr "
                   "(default 0.1; 0.94 for exponential)")
    p.add_argument("--lr-step-epochs", type=positive_int, help="step, exponential: epochs "
                   "between decreases (default step: a third of the epochs; exponential: 1)")
    p.add_argument("--plateau-metric", choices=["val_loss", "val_acc1"],
                   help="plateau: what must stop improving (default val_loss)")
    p.add_argument("--plateau-patience", type=nonnegative_int,
                   help="plateau: epochs without improvement before the lr drops (default 2)")
    p.add_argument("--warmup", type=nonnegative_int,
                   help="epochs of linear warm-up from lr/10 (default 0)")
    p.add_argument("--clip-grad-norm", type=positive_float, help="rescale the gradients so "
                   "that their total norm is at most this, before each step")
    p.add_argument("--label-smoothing", type=probability,
                   help="target = (1-eps) one-hot + eps/classes")
    p.add_argument("--aux-weight", type=nonnegative_float,
                   help="loss weight of auxiliary heads (default "
                   "0.3 for GoogLeNet, 0.4 for Inception v3)")
    p.add_argument("--augment", action="store_true", default=None,
                   help="the dataset's usual augmentation: --random-crop (after padding) and, "
                   "for CIFAR, --flip; for folder datasets --random-resized-crop and --flip")
    p.add_argument("--random-crop", action="store_true", default=None, help="train on random "
                   "image-size crops: of the image padded by 1/8 of its size (small datasets), "
                   "or of the image resized to 256/224 of it (folder datasets, AlexNet)")
    p.add_argument("--random-resized-crop", action="store_true", default=None,
                   help="train on crops of random area (8-100%%) and aspect ratio, resized to "
                   "the image size (the Inception augmentation)")
    p.add_argument("--flip", action="store_true", default=None,
                   help="mirror training images left-right at random")
    p.add_argument("--scale-jitter", type=positive_int, nargs=2, metavar=("MIN", "MAX"),
                   help="with --random-crop: first resize the shorter side to a random size "
                   "from MIN to MAX (VGG: 256 512, ResNet: 256 480)")
    p.add_argument("--lighting", type=nonnegative_float, help="PCA colour noise of this "
                   "standard deviation (AlexNet: 0.1; RGB images)")
    p.add_argument("--subtract-mean", action="store_true", default=None, help="subtract the "
                   "per-channel mean of the training images (measured on up to 1000 of them)")
    p.add_argument("--ten-crop", action="store_true", default=None, help="evaluate each image "
                   "by the softmax averaged over ten crops (corners, centre, and mirrored)")
    p.add_argument("--image-size", type=positive_int,
                   help="resize images to this size (e.g. 32 to feed "
                   "digits to resnet18, 224 for ImageNet-sized networks)")
    p.add_argument("--val-split", type=fraction, help="hold out this fraction of the training "
                   f"images for validation (default {d['val_split']}; the same images whatever "
                   "the --seed): the schedule and the curves watch them, and the test split is "
                   "used once, at the end.  0: validate on the test split")
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
    p.add_argument("--no-sync-bn", dest="sync_bn", action="store_false", default=None,
                   help="under mpiexec: keep each process's batch-norm statistics to itself "
                   "(default: SyncBatchNorm, statistics over all processes' batches)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
