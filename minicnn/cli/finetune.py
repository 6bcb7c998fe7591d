"""`minicnn finetune`: the training of `minicnn train` (train.py), starting from pretrained
weights with new classifier head(s); the model is built by factories.build_finetune_model."""
from . import train
from .options import (EPILOG, add_command, add_training_options, nonnegative_float,
                      positive_float)


def add_parser(subparsers):
    p = add_command(subparsers, "finetune", train.run, epilog=EPILOG,
                    help="Fine-tune pretrained weights (by name, .pth or minicnn checkpoint) on a "
                    "new dataset: new classifier head, optionally frozen body",
                    description="Load pretrained weights, replace the classifier head(s) with "
                    "new ones for the dataset's classes, and train: the head with --head-lr, "
                    "the body with --body-lr (default head-lr / 10) or not at all "
                    "(--freeze-body). See docs/transfer-learning.md.")
    add_training_options(p, finetune=True)
    p.add_argument("--weights", help="DEFAULT or another weights name of --model "
                   "(IMAGENET1K_V1, ...: torchvision's file, downloaded once into PyTorch's "
                   "cache), a torchvision .pth file or a minicnn checkpoint.npz")
    p.add_argument("--freeze-body", action="store_true", default=None,
                   help="train only the new head(s)")
    p.add_argument("--head-lr", type=positive_float, help="learning rate of the new head(s)")
    p.add_argument("--body-lr", type=nonnegative_float, help="learning rate of the pretrained body")
