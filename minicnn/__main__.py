"""`python -m minicnn`: the command-line entry point."""
import argparse
import sys

import numpy as np


def cmd_demo(args):
    """Finite-difference check of a tiny network, printing gradcheck's report."""
    import minicnn as mc
    import minicnn.functional as F
    rng = np.random.default_rng(args.seed)
    x = mc.tensor(rng.standard_normal((4, 6)))
    targets = mc.tensor(rng.integers(0, 3, 4))
    w1 = mc.tensor(rng.standard_normal((8, 6)) * 0.5, requires_grad=True)
    w2 = mc.tensor(rng.standard_normal((3, 8)) * 0.5, requires_grad=True)

    def net(w1, w2):
        return F.cross_entropy(F.linear(F.tanh(F.linear(x, w1)), w2), targets, label_smoothing=0.1)

    print("tiny MLP: cross_entropy(linear(tanh(linear(x, w1)), w2)), float64")
    report = mc.gradcheck(net, w1, w2, raise_exception=False)
    print(report)
    return 0 if report else 1


def build_parser():
    parser = argparse.ArgumentParser(prog="minicnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help=cmd_demo.__doc__)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
