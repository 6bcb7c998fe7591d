"""`python -m minicnn ...`: the command line, which lives in minicnn/cli/."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
