"""The command line, `python -m minicnn COMMAND` or `minicnn COMMAND`: one module per
command (train, finetune, evaluate, predict, summary, export, gradcheck, viz, bench, demo),
each with ``add_parser(subparsers)`` declaring its options and ``run(args)`` doing its work,
which returns the exit status.  What the commands share: options.py (options, defaults and
value checks), datasets.py (dataset recipes) and factories.py (models, optimizers,
schedules by name).

A mistake on the command line ends with one line on stderr, never a traceback: a bad
option value is a usage error (exit status 2, from argparse); an error minicnn raises
while running (a missing file, a model that cannot take the input, ...) is printed by
``main`` (exit status 1).  ``--debug`` or ``MINICNN_DEBUG=1`` shows the traceback.
"""
import argparse
import os
import pickle
import sys
import tarfile
import zipfile
import zlib

from . import bench, demo, evaluate, export, finetune, gradcheck, predict, summary, train, viz
from .options import EPILOG, Parser, debug_requested

# in --help's order
COMMANDS = [train, finetune, evaluate, predict, summary, export, gradcheck, viz, bench, demo]

DESCRIPTION = """minicnn: train, evaluate, fine-tune and inspect CNNs built from scratch.

Run a subcommand with --help for its options.  With no options,
`python -m minicnn train` trains a small CNN on the handwritten digits that ship
with minicnn (no download) to about 99% test accuracy in a minute or two on a CPU.
"""

# What minicnn raises for bad input (files, shapes, settings), and what the libraries it
# reads files with raise for damaged ones (minicnn's readers turn these into ValueErrors
# naming the file; this is the net below them): reported on one line.  MemoryError: an
# input, batch or model too large for this machine.  ImportError: an optional package that
# a command needs (onnx for export) is not installed; the message says which extra has it.
USER_ERRORS = (ValueError, TypeError, OSError, RuntimeError, EOFError, MemoryError, ImportError,
               pickle.UnpicklingError, zipfile.BadZipFile, zlib.error, tarfile.TarError)
OUT_OF_MEMORY_HINT = ("out of memory: a smaller --batch-size, --image-size or --input "
                      "needs less")


def build_parser():
    parser = Parser(prog="minicnn", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def one_line(error):
    """The message of ``error`` on one line; one not written by minicnn says its kind
    and how to see where it came from."""
    if isinstance(error, OSError) and error.strerror and not str(error).startswith("minicnn"):
        text = f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    else:
        text = str(error)
    text = " ".join(text.split())
    if isinstance(error, MemoryError):
        return f"minicnn: {OUT_OF_MEMORY_HINT} ({text or 'MemoryError'})"
    if text.startswith("minicnn"):
        return text
    return (f"minicnn: {type(error).__name__}: {text} (run with --debug or MINICNN_DEBUG=1 "
            "for the traceback)")


# Commands that run in one process: under mpiexec, rank 0 alone runs them (N copies would
# do the same work and write the same files at once).  train and finetune are distributed.
SINGLE_PROCESS = ("evaluate", "predict", "summary", "export", "gradcheck", "viz", "bench", "demo")
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK")


def launcher_rank():
    """This process's rank as the MPI launcher set it (no MPI call); None without one."""
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return None


def main(argv=None):
    args = build_parser().parse_args(argv)
    debug = debug_requested(args)
    rank = launcher_rank() if args.command in SINGLE_PROCESS else None
    if rank is not None and rank > 0:
        return 0
    if rank == 0:
        print(f"minicnn: note: {args.command} runs in one process; under mpiexec, rank 0 "
              "alone runs it", file=sys.stderr)
    try:
        return args.run(args)
    except BrokenPipeError:          # `minicnn summary vgg16 | head`: the reader left early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:        # Ctrl-C (train reports its last checkpoint itself)
        if debug:
            raise
        print("minicnn: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if debug:
            raise
        print(one_line(error), file=sys.stderr)
        return 1
