"""minicnn's global random number generator (dropout masks, and anything else random).

``manual_seed(seed)`` makes every later random draw reproducible, like ``torch.manual_seed``.
Each array module (NumPy, CuPy) gets its own generator, created from the seed on first use,
so the random numbers are drawn where the data lives.
"""
import copy

import numpy as np

_seed = None          # None: fresh entropy from the operating system
_generators = {}      # array module name -> its Generator


def manual_seed(seed):
    """Seed minicnn's random numbers; the same seed gives the same dropout masks."""
    global _seed
    _seed = int(seed)
    _generators.clear()


def get_state(xp=np):
    """The state of ``xp``'s generator, to replay its draws later with ``set_state``."""
    return copy.deepcopy(generator(xp).bit_generator.state)


def set_state(state, xp=np):
    """Put ``xp``'s generator back to a state ``get_state`` returned."""
    generator(xp).bit_generator.state = copy.deepcopy(state)


def generator(xp=np):
    """The global ``Generator`` for array module ``xp`` (numpy or cupy)."""
    name = xp.__name__
    if name not in _generators:
        _generators[name] = xp.random.default_rng(_seed)
    return _generators[name]
