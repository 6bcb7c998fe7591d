"""The command line, `python -m minicnn COMMAND` or `minicnn COMMAND`: one module per
command (train, finetune, evaluate, summary, gradcheck, bench, demo), each with
``add_parser(subparsers)`` declaring its options and ``run(args)`` doing its work, which
returns the exit status.  What the commands share: options.py (options and defaults),
datasets.py (dataset recipes) and factories.py (models, optimizers, schedules by name)."""
import argparse
import sys

from . import bench, demo, evaluate, finetune, gradcheck, summary, train
from .options import EPILOG

COMMANDS = [train, finetune, evaluate, summary, gradcheck, bench, demo]   # in --help's order

DESCRIPTION = """minicnn: train, evaluate, fine-tune and inspect CNNs built from scratch.

Run a subcommand with --help for its options.  With no options,
`python -m minicnn train` trains a small CNN on the handwritten digits that ship
with minicnn (no download) to about 99% test accuracy in a minute or two on a CPU.
"""


def build_parser():
    parser = argparse.ArgumentParser(prog="minicnn", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:          # `minicnn summary vgg16 | head`: the reader left early
        sys.stderr.close()
        return 0
