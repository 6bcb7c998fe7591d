"""Training: the loop that turns a model, data and an optimizer into a trained network.

    from minicnn.train import fit, evaluate
    history = fit(model, train_loader, val_loader, optimizer, epochs=10,
                  scheduler=scheduler, out_dir="runs/digits")
    print(evaluate(model, test_loader))        # {'loss': ..., 'acc1': ..., 'acc5': ...}

One epoch of ``fit`` is:

1. for every batch: forward, loss, ``backward()``, optionally gradient clipping,
   ``optimizer.step()`` (``train_one_epoch``, with a tqdm progress bar showing the
   running loss and accuracy);
2. ``evaluate`` on the validation set (eval mode, no graph; batches of crops, as
   ``TenCrop`` makes them, are scored by their averaged predictions);
3. one ``scheduler.step()`` (``ReduceLROnPlateau`` is given the validation loss, or
   the validation accuracy with ``plateau_metric="val_acc1"``);
4. with ``out_dir``: a record appended to ``metrics.jsonl``, the learning curves redrawn
   in ``curves.png``, and ``checkpoint.npz`` rewritten (atomically).

The checkpoint holds everything the next epoch depends on -- weights, optimizer
and scheduler state, the epoch, *and the state of every random generator* (the
loaders' shuffling, random augmentations, dropout masks) -- so
``fit(..., resume="runs/digits/checkpoint.npz")`` continues exactly where the
run stopped: the parameters come out bit for bit the same as in a run that
never stopped (tests/test_train.py checks it).

Data-parallel training (``mpiexec -n N``, see docs/distributed.md) uses the same loop:
each process trains a ``DistributedDataParallel`` model on its share of the data, the
loss and accuracy counts are summed over the processes (so every process reports, and
stops on divergence, the same numbers), and the checkpoint holds the wrapped model's
weights, without the wrapper's ``module.`` prefix, so it resumes on any number of
processes.
"""
import contextlib
import json
import math
import os
import signal
import threading
import time
import types

import numpy as np

from . import backend, random
from . import distributed as dist
from . import functional as F
from .autograd import Tensor, no_grad
from .io import save_checkpoint, load_checkpoint
from .io.files import atomic_path
from .nn.parallel import DistributedDataParallel
from .nn.utils import clip_grad_norm_
from .optim.lr_scheduler import ReduceLROnPlateau

CHECKPOINT, METRICS, CURVES = "checkpoint.npz", "metrics.jsonl", "curves.png"

# Weight of each auxiliary classifier's loss, by the number of outputs in training mode.
#  * GoogLeNet, (logits, aux2, aux1): 0.3 each -- Szegedy et al., "Going deeper with
#    convolutions" (2014), section 5: "the losses of the auxiliary classifiers were
#    weighted by 0.3".
#  * Inception v3, (logits, aux): 0.4 -- the value of PyTorch's "Finetuning Torchvision
#    Models" tutorial (loss1 + 0.4 * loss2); the Inception v3 paper gives no number.
AUX_WEIGHTS = {3: 0.3, 2: 0.4}


# ----- one batch ------------------------------------------------------------------
def compute_loss(output, target, label_smoothing=0.0, aux_weight=None):
    """Cross entropy of the model's output; returns ``(loss, main_logits)``.

    ``output`` is the logits, or in training mode a tuple ``(logits, *aux_logits)``
    (GoogLeNet, Inception v3): each auxiliary head's loss is added with weight
    ``aux_weight`` (default from ``AUX_WEIGHTS``).  Accuracy uses the main logits only.
    """
    if not isinstance(output, tuple):
        return F.cross_entropy(output, target, label_smoothing=label_smoothing), output
    logits, *aux = output
    aux = [a for a in aux if a is not None]
    loss = F.cross_entropy(logits, target, label_smoothing=label_smoothing)
    weight = AUX_WEIGHTS.get(len(output), 0.3) if aux_weight is None else aux_weight
    for a in aux:
        loss = loss + weight * F.cross_entropy(a, target, label_smoothing=label_smoothing)
    return loss, logits


def topk_correct(logits, target, ks=(1, 5)):
    """How many samples have their true class among the k highest logits, for each k.

    A sample's rank is the number of *other* classes scoring at least as high as its
    true class (or NaN); it is top-k correct when rank < k.  So a tie counts as wrong:
    all-equal logits (a dead or diverged model) score 0%, where ``torch.topk`` would
    pick one of the tied classes and might count it.  A NaN true score is never
    correct.  Pure array code: no sort, and the counts stay on the device (an array
    of ``len(ks)`` numbers).
    """
    x, t = logits.data, target.data                           # (N, C), (N,)
    xp = backend.get_array_module(x)
    true_score = xp.take_along_axis(x, t[:, None], axis=1)    # (N, 1)
    # the true class counts itself once (>= itself, or NaN): subtract it
    rank = ((x >= true_score) | xp.isnan(x)).sum(axis=1) - 1  # (N,)
    scored = ~xp.isnan(true_score[:, 0])                      # (N,)
    return xp.stack([((rank < k) & scored).sum() for k in ks])


class TrainingDiverged(RuntimeError):
    """The loss (or the weights) became NaN or infinite: every later step is garbage.

    Raised by ``train_one_epoch`` / ``fit`` before anything is saved, so the last
    checkpoint written is the last good one (``checkpoint``, when ``fit`` wrote one).
    """

    def __init__(self, what, epoch, where, last_finite=None, checkpoint=None):
        self.what, self.epoch, self.where = what, epoch, where
        self.last_finite, self.checkpoint = last_finite, checkpoint
        super().__init__(what)

    def __str__(self):
        last = ("no finite loss before it" if self.last_finite is None else
                f"last finite loss {self.last_finite:.6g}")
        kept = (f"the last good checkpoint is kept: {self.checkpoint}" if self.checkpoint
                else "no checkpoint was written")
        return (f"minicnn: training diverged: {self.what} in epoch {self.epoch}, {self.where} "
                f"({last}); {kept}. Lower the learning rate (e.g. 10 times, --lr) or add a "
                "warm-up (--warmup)")


def _all_finite(model):
    """True when every parameter and buffer of ``model`` is finite (one device sync)."""
    arrays = [t.data for t in model.state_dict(keep_vars=True).values()
              if t.data.dtype.kind in "fc"]
    if not arrays:
        return True
    xp = backend.get_array_module(arrays[0])
    return bool(xp.all(xp.stack([xp.isfinite(a).all() for a in arrays])))


def _to_device(batch, device):
    return batch if device is None else Tensor(backend.to_device(batch.data, device))


class _Meter:
    """Sums of loss and correct counts over the batches of an epoch."""

    def __init__(self):
        self.sums = np.zeros(4)          # loss * images, top-1 correct, top-5 correct, images

    def add(self, sums):
        self.sums += sums

    def result(self):
        loss, c1, c5, n = self.sums
        n = max(n, 1)
        return {"loss": loss / n, "acc1": c1 / n, "acc5": c5 / n}


def _batch_sums(loss, logits, target):
    """[loss * images, top-1 correct, top-5 correct, images] of one batch (float64),
    read from the device in one transfer."""
    xp = backend.get_array_module(logits.data)
    n = len(target)
    sums = xp.concatenate([loss.data.reshape(1).astype(np.float64) * n,
                           topk_correct(logits, target).astype(np.float64),
                           xp.asarray([n], dtype=np.float64)])
    return backend.to_numpy(sums)


def _summed_over_processes(sums):
    """``sums`` added up over all processes when training data-parallel (a process group of
    more than one); unchanged otherwise.  Every process must make this call."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(sums)
    return sums


def _unwrapped(model):
    """The model inside a ``DistributedDataParallel`` wrapper (what checkpoints hold)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def _crop_averaged_log_probs(model, crops):
    """``crops``: (N, K, C, H, W), K crops of each image (``TenCrop``) -> (N, classes): the
    log of the softmax averaged over each image's K crops, AlexNet's test-time averaging
    ("averaging the predictions made by the network's softmax layer on the ten patches").
    As logits for ``cross_entropy`` these give -log(mean probability of the true class)."""
    n, k = crops.shape[:2]
    logits = model(crops.reshape(n * k, *crops.shape[2:]))                 # (N*K, classes)
    log_p = F.log_softmax(logits, dim=1).data.reshape(n, k, -1)            # (N, K, classes)
    xp = backend.get_array_module(log_p)
    top = log_p.max(axis=1)                                                # (N, classes)
    # log mean_k exp(log_p) without underflow: the largest term is exp(0) = 1
    return Tensor(top + xp.log(xp.exp(log_p - top[:, None]).mean(axis=1)))


def _progress(loader, desc, enabled):
    """A tqdm bar over one pass of ``loader``.  The loader is iterated exactly once, here:
    each ``iter(loader)`` draws a new shuffle (and starts a prefetch thread), so a second,
    abandoned pass would consume random numbers and break exact resumption."""
    from tqdm import tqdm
    return tqdm(iter(loader), desc=desc, total=len(loader), disable=not enabled, leave=False,
                dynamic_ncols=True, unit="batch")


# ----- Ctrl-C: honoured between steps -------------------------------------------------
_ctrl_c_pressed = False


@contextlib.contextmanager
def _ctrl_c_between_steps():
    """While training, Ctrl-C only marks the run as interrupted, and the next step (or
    evaluation batch) raises KeyboardInterrupt.  Python raises it wherever the main thread
    happens to be, and one raised inside a weakref callback or a ``__del__`` -- the loader's
    prefetch thread is cleaned up through both -- is printed as "Exception ignored" and
    lost: training went on as if nothing was pressed.  A second Ctrl-C interrupts at once.
    Left alone where a program installed its own handler, and off the main thread (signals
    reach only the main thread)."""
    global _ctrl_c_pressed
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def note_ctrl_c(signum, frame):
        global _ctrl_c_pressed
        _ctrl_c_pressed = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    _ctrl_c_pressed = False
    signal.signal(signal.SIGINT, note_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _ctrl_c_pressed = False


def _stop_if_ctrl_c():
    global _ctrl_c_pressed
    if _ctrl_c_pressed:
        _ctrl_c_pressed = False
        raise KeyboardInterrupt


# ----- one epoch --------------------------------------------------------------------
def train_one_epoch(model, loader, optimizer, *, label_smoothing=0.0, aux_weight=None,
                    clip_grad_norm=None, device=None, progress=True, desc="train", epoch=None):
    """One pass over ``loader`` in training mode; returns mean loss, top-1 and top-5 accuracy
    (over all processes' batches when training data-parallel).

    clip_grad_norm: rescale the gradients before each step so that their total norm is at
        most this (``nn.utils.clip_grad_norm_``; Inception v3 clips at 2.0).
    Stops with ``TrainingDiverged`` at the first step whose loss is NaN or infinite
    (``epoch`` names the epoch in its message)."""
    model.train()
    meter = _Meter()
    last_finite = None
    bar = _progress(loader, desc, progress)
    for step, (images, targets) in enumerate(bar, start=1):
        _stop_if_ctrl_c()
        images, targets = _to_device(images, device), _to_device(targets, device)
        loss, logits = compute_loss(model(images), targets, label_smoothing, aux_weight)
        optimizer.zero_grad()
        loss.backward()
        if clip_grad_norm is not None:
            clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        # the step's one sync; summed over the processes, so that all of them see the
        # same loss and stop at the same step if it is not finite
        sums = _summed_over_processes(_batch_sums(loss, logits, targets))
        step_loss = sums[0] / sums[3]
        if not math.isfinite(step_loss):
            bar.close()
            raise TrainingDiverged(f"the loss became {step_loss}", epoch,
                                   f"step {step} of {len(loader)}", last_finite)
        last_finite = step_loss
        meter.add(sums)
        running = meter.result()
        bar.set_postfix(loss=f"{running['loss']:.4f}", acc=f"{running['acc1']:.2%}", refresh=False)
    bar.close()
    return meter.result()


def evaluate(model, loader, *, label_smoothing=0.0, device=None, progress=False, desc="eval"):
    """Mean loss, top-1 and top-5 accuracy over ``loader``, in eval mode without a graph.
    The model's training/eval mode is restored afterwards.

    Batches of shape (N, K, C, H, W) hold K crops of each image (``TenCrop``): an image is
    scored by its softmax averaged over its crops.  When training data-parallel, each
    process evaluates its own part of the data and the sums are combined: every process
    gets the result over all of it (every process must call ``evaluate``)."""
    was_training = model.training
    model.eval()
    meter = _Meter()
    try:
        with no_grad():
            for images, targets in _progress(loader, desc, progress):
                _stop_if_ctrl_c()
                images, targets = _to_device(images, device), _to_device(targets, device)
                output = (model(images) if images.ndim != 5 else
                          _crop_averaged_log_probs(model, images))
                loss, logits = compute_loss(output, targets, label_smoothing)
                meter.add(_batch_sums(loss, logits, targets))
    finally:
        model.train(was_training)
    meter.sums = _summed_over_processes(meter.sums)
    return meter.result()


# ----- random generators: what a resumed run must draw identically ----------------------
_NO_GENERATOR_INSIDE = (str, bytes, int, float, type(None), np.ndarray, np.generic, Tensor,
                        type, types.ModuleType, types.FunctionType)


def random_generators(*objects):
    """Every ``numpy.random.Generator`` reachable from ``objects`` through attributes,
    lists, tuples and dicts (a DataLoader's shuffling ``rng``, the ``rng`` of each random
    transform of its dataset), in a fixed order, each once."""
    found, seen = [], set()

    def walk(obj, depth):
        # plain values, arrays, modules and classes cannot hold a dataset's generator
        if isinstance(obj, _NO_GENERATOR_INSIDE) or id(obj) in seen or depth > 8:
            return
        seen.add(id(obj))
        if isinstance(obj, np.random.Generator):
            found.append(obj)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                walk(item, depth + 1)
        elif isinstance(obj, dict):
            for item in obj.values():
                walk(item, depth + 1)
        elif hasattr(obj, "__dict__"):
            for item in vars(obj).values():
                walk(item, depth + 1)

    for obj in objects:
        walk(obj, 0)
    return found


def rng_state(*objects):
    """The states of minicnn's global generator (dropout masks) and of every generator
    reachable from ``objects``: plain numbers, storable in a checkpoint."""
    return {"minicnn": random.generator(np).bit_generator.state,
            "objects": [g.bit_generator.state for g in random_generators(*objects)]}


def set_rng_state(state, *objects, strict=True):
    """Restore what ``rng_state`` returned, into the same kind of ``objects``.  Objects
    holding another number of generators (built another way, e.g. with other random
    transforms) are a ValueError, or with ``strict=False`` are left as they are: returns
    whether their generators were restored (minicnn's own always is)."""
    random.generator(np).bit_generator.state = state["minicnn"]
    generators = random_generators(*objects)
    if len(generators) != len(state["objects"]):
        if not strict:
            return False
        raise ValueError(f"minicnn: resume: the checkpoint has the states of "
                         f"{len(state['objects'])} random generators (loaders, transforms), "
                         f"but these loaders hold {len(generators)}; build them the same way "
                         "as in the run that wrote the checkpoint")
    for g, s in zip(generators, state["objects"]):
        g.bit_generator.state = s
    return True


# ----- checkpoints, the metrics log and the curves ------------------------------------
def save_training_state(path, model, optimizer, scheduler, epoch, loaders, history,
                        config=None):
    """Write everything needed to continue after ``epoch`` completed epochs (atomically)."""
    save_checkpoint(path, _unwrapped(model), optimizer, epoch=epoch,
                    scheduler=scheduler.state_dict() if scheduler is not None else None,
                    rng=rng_state(*loaders), history=history, config=config)


def load_training_state(path, model, optimizer=None, scheduler=None, loaders=(), strict=True):
    """Load a checkpoint written by ``fit`` into freshly built objects; returns it
    (``ckpt["epoch"]`` is the number of epochs already done, ``ckpt["history"]``
    their metrics).  ``strict=False``: loaders built another way than the saved run's
    (another number of random generators) keep their own generators, and
    ``ckpt["rng_restored"]`` is False."""
    ckpt = load_checkpoint(path)
    _unwrapped(model).load_state_dict(ckpt["model"])
    if optimizer is not None and ckpt.get("optimizer") is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt.get("scheduler") is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if loaders and ckpt.get("rng") is not None:
        ckpt["rng_restored"] = set_rng_state(ckpt["rng"], *loaders, strict=strict)
    return ckpt


def write_metrics(history, path):
    """The metrics log: one JSON object per epoch and line (``metrics.jsonl``)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for record in history:
            f.write(json.dumps(record) + "\n")


def read_metrics(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_history(history, path, title=None):
    """Learning curves -- loss and top-1 accuracy per epoch, train vs validation -- as a PNG.

    Uses matplotlib's Agg canvas directly (no pyplot, no window, any backend setting
    of the caller is left alone).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    epochs = [r["epoch"] for r in history]
    for ax, key, label in ((fig.add_subplot(1, 2, 1), "loss", "loss"),
                           (fig.add_subplot(1, 2, 2), "acc1", "top-1 accuracy")):
        for split, style in (("train", "o-"), ("val", "s-")):
            values = [r.get(f"{split}_{key}") for r in history]
            if any(v is not None for v in values):
                ax.plot(epochs, [math.nan if v is None else v for v in values], style,
                        markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
        if key == "loss":
            ax.set_yscale("log")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)


# ----- the whole run --------------------------------------------------------------------
def fit(model, train_loader, val_loader, optimizer, epochs, scheduler=None, *,
        label_smoothing=0.0, aux_weight=None, clip_grad_norm=None, plateau_metric="val_loss",
        device=None, out_dir=None, resume=None, config=None, title=None, progress=True,
        log=print):
    """Train ``model`` for ``epochs`` epochs in total; returns the history (a list with
    one dict of metrics per epoch).

    val_loader: evaluated after every epoch (may be None).
    scheduler: stepped once per epoch; ``ReduceLROnPlateau`` gets ``plateau_metric``:
        "val_loss" (with ``mode="min"``) or "val_acc1", the top-1 accuracy (with
        ``mode="max"``: AlexNet's "divide by 10 when the validation error stops
        improving"); the training loss or accuracy without a validation set.
    label_smoothing / aux_weight: passed to ``compute_loss``.
    clip_grad_norm: passed to ``train_one_epoch``.
    device: where batches are moved ("cpu" / "cuda"); the model must already be there.
    out_dir: folder for ``checkpoint.npz``, ``metrics.jsonl`` and ``curves.png``,
        rewritten after every epoch.  config: anything to store in the checkpoint.
    title: the title of the curves' plot.
    resume: a checkpoint written by ``fit``; training continues after its last epoch,
        with model, optimizer, scheduler and loaders built as in the first run.
    A ``DistributedDataParallel`` model is saved and loaded as the model it wraps, and a
    training loader whose sampler has ``set_epoch`` (``DistributedSampler``) is told the
    epoch before each one.
    A loss, weight or validation loss that becomes NaN or infinite stops the run with
    ``TrainingDiverged`` (epoch, step, last finite loss) before that epoch saves
    anything: the checkpoint on disk stays the last good one.
    log: called with one summary line per epoch (None: silent).
    Ctrl-C raises KeyboardInterrupt at the next step or evaluation batch (a second one at
    once); the checkpoint on disk is the last finished epoch's.
    """
    loaders = [train_loader] + ([val_loader] if val_loader is not None else [])
    _check_plateau_metric(scheduler, plateau_metric)
    sampler = getattr(train_loader, "sampler", None)
    history, start = [], 0
    if resume is not None:
        # (loaders built with other random transforms are allowed: docs/training.md)
        ckpt = load_training_state(resume, model, optimizer, scheduler, loaders, strict=False)
        history, start = list(ckpt.get("history") or []), int(ckpt["epoch"])
        if log:
            log(f"resumed from {resume} after epoch {start}")
            if ckpt.get("rng_restored") is False:
                log("note: the loaders' random transforms differ from the saved run's (e.g. "
                    "another --augment), so they draw anew from the seed: the run goes on, but "
                    "no longer as the original would have")
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    last_good = os.fspath(resume) if resume is not None else None   # what a divergence keeps
    # NaN and overflow are reported once, with their epoch and step, by the divergence
    # checks: NumPy's warnings about every array along the way would only be noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _ctrl_c_between_steps():
        for epoch in range(start + 1, epochs + 1):
            _stop_if_ctrl_c()
            t0 = time.perf_counter()
            lr = optimizer.param_groups[-1]["lr"]          # the head's lr when fine-tuning
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)                    # the epoch's shuffle
            try:
                train = train_one_epoch(model, train_loader, optimizer,
                                        label_smoothing=label_smoothing, aux_weight=aux_weight,
                                        clip_grad_norm=clip_grad_norm, device=device,
                                        progress=progress,
                                        desc=f"epoch {epoch}/{epochs}", epoch=epoch)
                val = (evaluate(model, val_loader, label_smoothing=label_smoothing, device=device)
                       if val_loader is not None else {})
                _check_finite(model, val, epoch, train["loss"])
            except TrainingDiverged as diverged:       # raised before this epoch saved anything
                if diverged.last_finite is None and history:   # at the epoch's first step
                    diverged.last_finite = history[-1]["train_loss"]
                diverged.checkpoint = last_good
                raise
            if isinstance(scheduler, ReduceLROnPlateau):
                key = plateau_metric[len("val_"):]
                scheduler.step(val.get(key, train[key]))
            elif scheduler is not None:
                scheduler.step()
            record = {"epoch": epoch, "lr": lr,
                      **{f"train_{k}": v for k, v in train.items()},
                      **{f"val_{k}": v for k, v in val.items()},
                      "seconds": round(time.perf_counter() - t0, 3)}
            history.append(record)
            if out_dir is not None:
                # The checkpoint first: the metrics log and the screen never get ahead of it.
                last_good = _save_epoch(out_dir, epoch, last_good, model, optimizer, scheduler,
                                        loaders, history, config, title)
            if log:
                line = (f"epoch {epoch:3d}/{epochs}  lr {lr:.3g}  train loss {train['loss']:.4f} "
                        f"acc {train['acc1']:.2%}")
                if val:
                    line += f"  val loss {val['loss']:.4f} acc {val['acc1']:.2%}"
                log(line + f"  ({record['seconds']:.1f}s)")
    return history


def _save_epoch(out_dir, epoch, last_good, model, optimizer, scheduler, loaders, history, config,
                title):
    """Write the checkpoint, then the metrics log and the curves, after ``epoch``; returns
    the checkpoint's path.  A write that fails (a full disk) is an OSError saying which
    epoch the checkpoint on disk holds."""
    checkpoint = os.path.join(out_dir, CHECKPOINT)
    saved = False
    try:
        save_training_state(checkpoint, model, optimizer, scheduler, epoch, loaders, history,
                            config)
        last_good, saved = checkpoint, True
        write_metrics(history, os.path.join(out_dir, METRICS))
        plot_history(history, os.path.join(out_dir, CURVES), title)
    except OSError as e:
        if saved:
            kept = f"the checkpoint {checkpoint} holds it, but {METRICS} or {CURVES} may not"
        elif last_good is not None:
            kept = (f"the last checkpoint is {last_good} (the epoch before; continue with "
                    f"--resume {last_good})")
        else:
            kept = "no checkpoint was written"
        raise OSError(e.errno, f"minicnn: epoch {epoch} was trained but could not be saved in "
                               f"{out_dir} ({e.strerror or e}): {kept}") from e
    return last_good


PLATEAU_METRICS = {"val_loss": "min", "val_acc1": "max"}   # metric: ReduceLROnPlateau's mode


def _check_plateau_metric(scheduler, metric):
    if metric not in PLATEAU_METRICS:
        raise ValueError(f"minicnn: fit: plateau_metric must be one of "
                         f"{', '.join(PLATEAU_METRICS)}, got {metric!r}")
    mode = PLATEAU_METRICS[metric]
    if isinstance(scheduler, ReduceLROnPlateau) and scheduler.mode != mode:
        raise ValueError(f"minicnn: fit: plateau_metric {metric!r} needs "
                         f"ReduceLROnPlateau(mode={mode!r}) (it improves as it "
                         f"{'falls' if mode == 'min' else 'rises'}), got mode={scheduler.mode!r}")


def _check_finite(model, val, epoch, train_loss):
    """After an epoch's last step: a model whose weights or validation loss are not
    finite has diverged, even when every training loss was (the last step broke it)."""
    if not _all_finite(model):
        raise TrainingDiverged("the weights became NaN or infinite", epoch,
                               "after its last step", train_loss)
    if not math.isfinite(val.get("loss", 0.0)):
        raise TrainingDiverged(f"the validation loss became {val['loss']}", epoch,
                               "after its last step", train_loss)
