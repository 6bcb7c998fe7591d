"""FractalNet: Larsson, Maire & Shakhnarovich, "FractalNet: Ultra-Deep Neural Networks
without Residuals" (2016), the CIFAR network.

**The fractal block.**  One conv layer is the 1-column block, f_1(z) = conv(z); a block
with C + 1 columns puts two C-column blocks one after the other and joins them with a
single conv beside them:

    f_{C+1}(z) = join( f_C(f_C(z)), conv(z) )

so column c (1 = the shortest) is a chain of 2^(c-1) conv layers, and the deepest path
of a C-column block is 2^(C-1) layers long.  There are no shortcuts: every signal goes
through a conv and a nonlinearity; the short columns play the part of ResNet's identity
paths.  Drawn as columns (C = 3, a conv ``#``, a join ``J``)::

    step  column 1  column 2  column 3
     1        |         |         #
     2        |         #         #    J(2, 3)
     3        |         |         #
     4        #         #         #    J(1, 2, 3)

A **join** is the elementwise mean of its inputs (not a sum, not a concatenation).
Consecutive joins of the recursive definition are merged into one, as in the paper's
Figure 1: a join at step i averages every column whose conv ends there and hands the
mean to all of them.

**Drop-path** regularises the columns against co-adaptation (section 3.1), in training only:

* *local*: each join drops each of its inputs with probability ``p_local`` (0.15),
  keeping at least one (if all were dropped, one chosen at random is kept), and averages
  the kept ones;
* *global*: one column is chosen for the whole network; every block uses that column
  alone (a plain chain of 2^(c-1) convs per block), which trains each column to be a
  network on its own.

Per mini-batch, global sampling is chosen with probability ``global_ratio`` (0.5, the
paper's "50% local and 50% global"), else local.  In eval mode nothing is dropped and
every join averages all its inputs.  The draws come from minicnn's generator
(``mc.manual_seed``); each join records what it kept in ``last_kept`` and the network
the column it chose in ``last_global_column`` (None: local), so a step can be replayed.

**The CIFAR network** (section 4): B = 5 blocks with 64, 128, 256, 512, 512 filters, each
conv 3x3 ("same" padding) followed by batch norm and ReLU, 2x2 max pooling after each
block (32 -> 16 -> 8 -> 4 -> 2 -> 1), a linear classifier on the 512x1x1 result.  Each
conv unit is conv -> dropout -> batch norm -> ReLU, dropout (0, 0.1, 0.2, 0.3, 0.4) per
block: the paper gives the rates per block ("similar to Clevert et al."), the order is the
authors' released Caffe model's.  The pooling of a block is applied to each column before
its last join (the paper swaps the last join and the pooling "for convenience"; for max
pooling and a mean this changes the numbers, so the order is stated here).

C = 3 gives the paper's 20-layer net (B x 2^(C-1) = 5 x 4), C = 4 the 40-layer one.
Parameters with 10 classes: 33,724,618 (C = 3) and 76,106,634 (C = 4).  The paper's
Table 1 says 38.6M for the 20-layer and 22.9M for the 40-layer net; neither follows from
the widths it gives (the conv weights alone of C = 3 are 33,698,880; of C = 4,
76,057,344), so minicnn's counts differ from the paper's -- see docs/models.md.
Convs have no bias (batch norm follows each one).
"""
from .. import functional as F
from .. import nn
from .. import random
from ._weights import load_weights

CIFAR_CHANNELS = (64, 128, 256, 512, 512)
CIFAR_DROPOUT = (0.0, 0.1, 0.2, 0.3, 0.4)


def conv_unit(in_channels, out_channels, dropout):
    """conv 3x3 -> dropout -> batch norm -> ReLU: one layer of a column."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1,
                                   bias=False),
                         nn.Dropout(p=dropout),
                         nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


def join_schedule(columns):
    """For each step 1 .. 2^(C-1) of a C-column block, the columns (0-based, 0 = the
    shortest) whose conv ends at that step: column c's convs each span 2^(C-1-c) steps."""
    steps = 2 ** (columns - 1)
    return [[c for c in range(columns) if step % 2 ** (columns - 1 - c) == 0]
            for step in range(1, steps + 1)]


def sample_local_drop_path(n_inputs, p):
    """Local drop-path for one join of ``n_inputs``: the indices kept, each input dropped
    with probability ``p``, at least one kept (chosen uniformly if all were dropped)."""
    rng = random.generator()
    kept = [i for i in range(n_inputs) if rng.random() >= p]
    return kept or [int(rng.integers(n_inputs))]


class FractalJoin(nn.Module):
    """The elementwise mean of the inputs that survive local drop-path.

    ``forward(inputs, kept=None)``: ``kept`` (indices into ``inputs``) given: the mean of
    those; not given: in training, ``sample_local_drop_path(len(inputs), p)``, in eval
    mode all of them.  What the last call kept is stored in ``last_kept``.
    """

    def __init__(self, p=0.15):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"minicnn: FractalJoin: drop-path probability p must be in "
                             f"[0, 1], got {p!r}")
        self.p = p
        self.last_kept = None

    def forward(self, inputs, kept=None):
        if kept is None:
            kept = (sample_local_drop_path(len(inputs), self.p) if self.training
                    else list(range(len(inputs))))
        if not kept or not all(0 <= i < len(inputs) for i in kept):
            raise ValueError(f"minicnn: FractalJoin: kept must be a non-empty list of input "
                             f"indices below {len(inputs)}, got {kept!r}")
        self.last_kept = list(kept)
        total = inputs[kept[0]]
        for i in kept[1:]:
            total = total + inputs[i]
        return total / len(kept) if len(kept) > 1 else total

    def extra_repr(self):
        return f"p={self.p}"


class FractalBlock(nn.Module):
    """A C-column fractal block (see the module docstring), then 2x2 max pooling.

    Its layers: ``column{c}_{i}``, the i-th conv unit of column c (1-based; column c has
    2^(c-1)), one ``join`` used at every step where two or more columns meet, and
    ``pool``.  ``forward(x, column=None)``: ``column`` (0-based) given: global drop-path,
    only that column runs; None: every column, joined by the (local drop-path) join.
    ``last_kept``: per join step of the last call, the indices of the inputs kept.

    Shape: (N, in_channels, H, W) -> (N, out_channels, H/2, W/2).
    """

    def __init__(self, in_channels, out_channels, columns, dropout=0.0, p_local=0.15):
        super().__init__()
        self.schedule = join_schedule(columns)
        for c in range(columns):
            for i in range(2 ** c):     # the first unit of a column reads the block's input
                self.add_module(f"column{c + 1}_{i + 1}", conv_unit(
                    in_channels if i == 0 else out_channels, out_channels, dropout))
        self.join = FractalJoin(p_local)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.last_kept = []

    def unit(self, column, index):
        """The ``index``-th conv unit (0-based) of ``column`` (0-based)."""
        return getattr(self, f"column{column + 1}_{index + 1}")

    def forward(self, x, column=None):
        signal = [x] * len(self.schedule[-1])     # what each column reads next
        used = [0] * len(signal)                  # how many units of each column ran
        self.last_kept = []
        for step, ending in enumerate(self.schedule):
            last_step = step == len(self.schedule) - 1
            if column is not None:                # global drop-path: one column, no joins
                if len(ending) > 1:
                    self.last_kept.append([ending.index(column)] if column in ending else [])
                ending = [c for c in ending if c == column]
            outputs = []
            for c in ending:
                out = self.unit(c, used[c])(signal[c])
                used[c] += 1
                outputs.append(self.pool(out) if last_step else out)  # pool, then last join
            if not outputs:
                continue
            if len(outputs) > 1:
                joined = self.join(outputs)
                self.last_kept.append(self.join.last_kept)
            else:
                joined = outputs[0]
            for c in ending:
                signal[c] = joined
        return joined


class FractalNet(nn.Module):
    """Fractal blocks ``block1`` ... (``channels``: one width per block, ``columns`` each)
    on 32x32 inputs, then ``fc``, with drop-path in training: per mini-batch global
    (probability ``global_ratio``) or local (``p_local`` per join input); ``dropout``: one
    rate per block.  The last block must end at 1x1 (five blocks for 32x32)."""

    def __init__(self, num_classes=10, columns=3, channels=CIFAR_CHANNELS,
                 dropout=CIFAR_DROPOUT, p_local=0.15, global_ratio=0.5):
        super().__init__()
        if columns < 1 or len(dropout) != len(channels):
            raise ValueError(f"minicnn: FractalNet: need columns >= 1 and one dropout rate per "
                             f"block, got columns={columns}, {len(channels)} blocks and "
                             f"{len(dropout)} rates")
        if not 0.0 <= global_ratio <= 1.0:
            raise ValueError(f"minicnn: FractalNet: global_ratio must be in [0, 1], "
                             f"got {global_ratio!r}")
        self.num_columns, self.global_ratio = columns, global_ratio
        widths = (3, *channels)
        self.num_blocks = len(channels)
        for b in range(self.num_blocks):
            self.add_module(f"block{b + 1}", FractalBlock(widths[b], widths[b + 1], columns,
                                                          dropout[b], p_local))
        self.fc = nn.Linear(channels[-1], num_classes)
        self.last_global_column = None

    @property
    def blocks(self):
        """The fractal blocks, input side first."""
        return [getattr(self, f"block{b + 1}") for b in range(self.num_blocks)]

    def sample_global_column(self):
        """Per mini-batch: a column for global drop-path (probability ``global_ratio``),
        or None for local drop-path.  Two draws from minicnn's generator either way."""
        rng = random.generator()
        use_global = rng.random() < self.global_ratio
        column = int(rng.integers(self.num_columns))
        return column if use_global else None

    def forward(self, x, column=None):
        """``column``: force global drop-path through that column (also in eval mode: the
        paper's "deepest column alone" is ``column=columns - 1``)."""
        if column is None and self.training:
            column = self.sample_global_column()
        self.last_global_column = column
        for block in self.blocks:
            x = block(x, column)                  # (N, channels[b], H / 2^(b+1), ...)
        if x.shape[2:] != (1, 1):
            raise ValueError(f"minicnn: FractalNet: the last block must end at 1x1 (32x32 "
                             f"inputs for 5 blocks), got {tuple(x.shape)}")
        return self.fc(F.flatten(x, 1))


def fractalnet_cifar(weights=None, columns=3, **kwargs):
    """FractalNet for CIFAR (see ``FractalNet``): 5 blocks of 64-128-256-512-512 filters,
    ``columns`` (3: the paper's 20-layer net, 4: its 40-layer one), ``num_classes`` (10),
    ``dropout`` per block, ``p_local`` (0.15), ``global_ratio`` (0.5); ``weights``: a .pth
    path or state dict."""
    return load_weights(FractalNet(columns=columns, **kwargs), weights)


def fractalnet20(weights=None, **kwargs):
    """FractalNet with C = 3 columns: 20 layers on the deepest path, 33,724,618 parameters
    (10 classes; the paper's Table 1 says 38.6M)."""
    return fractalnet_cifar(weights, columns=3, **kwargs)


def fractalnet40(weights=None, **kwargs):
    """FractalNet with C = 4 columns: 40 layers on the deepest path, 76,106,634 parameters
    (10 classes; the paper's Table 1 says 22.9M)."""
    return fractalnet_cifar(weights, columns=4, **kwargs)
