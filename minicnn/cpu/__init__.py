"""Numba fast paths for CPU kernels, one module per op file in minicnn/functional/.

Each fast path takes the same arguments as its readable NumPy reference and must
give the same numbers (the tests check both).  Each registers itself with
``minicnn.dispatch``, which imports this package on first use, and only when
``backend.numba_enabled()``: minicnn also works without Numba.
"""
import os
import sys

import numba

# Numba runs its parallel loops on an OpenMP thread pool; NumPy's matrix products run on
# OpenBLAS's own threads.  By default OpenMP's threads keep spinning for a while after each
# kernel, on the same cores the next matrix product needs (and OpenBLAS's threads do the
# same to the next kernel): measured on 2 cores, resnet18's training step at batch 4 took
# 1.5 s instead of 0.6 s, and one col2im 14 ms instead of 1 ms.  PASSIVE makes them sleep at
# once.  OpenMP reads it when its library loads: Numba loads it after this import, unless
# PyTorch was imported first -- its OpenMP library has the same name and Numba then shares
# it, with the policy it started with.  In that case Numba gets its own plain thread pool
# ("workqueue", as fast here; it must not be entered from two Python threads at once, and
# minicnn's DataLoader thread runs no Numba kernels).  A policy the user set is kept.
if "OMP_WAIT_POLICY" not in os.environ:
    if "torch" in sys.modules:
        numba.config.THREADING_LAYER = "workqueue"
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

from . import activation, conv, norm, pool, winograd  # noqa: F401  (importing them registers their kernels)
