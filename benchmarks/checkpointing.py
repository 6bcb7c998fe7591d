"""Activation checkpointing: the memory a training step saves, and the time it costs.

    python benchmarks/checkpointing.py                              # resnet50 and vgg16, batch 16
    python benchmarks/checkpointing.py --models resnet18 --batch 4  # a quicker look

For each model one SGD training step (forward, cross entropy, backward, update) runs plainly
and with ``mc.utils.checkpoint``: resnet50 checkpoints every bottleneck block (each keeps
only its input; the stem and the head run plainly), vgg16 its feature stack in one segment
per pooling stage (``checkpoint_sequential``, 5 segments; the last runs plainly).  Peak
memory: a fresh process per case, how far the step lifts the resident memory above what the
model, its data and its gradients already hold (the same measurement as
benchmarks/models.py).  Time: the median of --repeats steps in this process, the two
variants alternating.  minicnn only: this measures a trade-off inside minicnn, not a ratio.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def build(name, batch, checkpointed):
    """(step function, model) for one training step of ``name`` at ``batch``."""
    import minicnn as mc
    import minicnn.functional as F
    from minicnn.utils import checkpoint, checkpoint_sequential
    mc.manual_seed(0)
    model = getattr(mc.models, name)(num_classes=1000)
    rng = np.random.default_rng(0)
    x = mc.tensor(rng.standard_normal((batch, 3, 224, 224)).astype(np.float32))
    y = mc.tensor(rng.integers(0, 1000, batch))
    optimizer = mc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def resnet_forward(images):
        h = model.maxpool(model.relu(model.bn1(model.conv1(images))))
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in stage:
                h = checkpoint(block, h)
        return model.fc(F.flatten(model.avgpool(h), 1))

    def vgg_forward(images):
        layers = list(model.features)
        segments = sum(type(layer).__name__ == "MaxPool2d" for layer in layers)
        h = checkpoint_sequential(layers, segments, images)
        return model.classifier(F.flatten(model.avgpool(h), 1))

    forward = model if not checkpointed else (resnet_forward if hasattr(model, "layer1")
                                              else vgg_forward)

    def step():
        optimizer.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        optimizer.step()
    return step


def memory_child(name, batch, checkpointed):
    import ctypes
    import gc
    from models import _status_mb
    step = build(name, batch, checkpointed)
    step()                                 # gradients, optimizer state, caches exist now
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = _status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    step()
    return _status_mb("VmHWM") - before


def peak_memory(name, batch, checkpointed):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", name,
                          str(batch), str(int(checkpointed))],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet50", "vgg16"])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_child:
        name, batch, checkpointed = args.memory_child
        print(memory_child(name, int(batch), checkpointed == "1"))
        return
    print(f"{'model':<10} {'batch':>5} {'peak MB plain':>14} {'checkpointed':>13} {'ratio':>6}"
          f" {'step s plain':>13} {'checkpointed':>13} {'ratio':>6}  load", flush=True)
    for name in args.models:
        memory = [peak_memory(name, args.batch, c) for c in (False, True)]
        steps = [build(name, args.batch, c) for c in (False, True)]
        for s in steps:
            s()                                                    # warm-up
        times = ([], [])
        for _ in range(args.repeats):
            for i, s in enumerate(steps):
                start = time.perf_counter()
                s()
                times[i].append(time.perf_counter() - start)
        plain, ckpt = (statistics.median(t) for t in times)
        print(f"{name:<10} {args.batch:>5} {memory[0]:>14.0f} {memory[1]:>13.0f} "
              f"{memory[1] / memory[0]:>6.2f} {plain:>13.2f} {ckpt:>13.2f} {ckpt / plain:>6.2f}"
              f"  {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
