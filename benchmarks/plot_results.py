"""Draw saved results of benchmarks/models.py: bar charts of the ratios minicnn / PyTorch.

    python benchmarks/plot_results.py benchmarks/results/models-cpu.json -o ratios.png
    python benchmarks/plot_results.py docs/results/models-cpu-b4-round5.json \\
        docs/results/models-cpu-b4-round5-run2.json docs/results/models-cpu-b16-round5.json \\
        docs/results/models-cpu-b16-round5-run2.json -o docs/benchmarks-current.png

Each JSON file is one run of models.py (its --json).  There is one panel per batch size,
shared by the files of that batch size: each file is a run, numbered in the order given,
and each model gets a bar per measure and run.  --what picks the measures: the training
step's and the eval forward's median ratio by default; "memory" adds the peak-memory
ratio where the run measured it.  The bars come from models.py's own ``draw_ratios``;
matplotlib draws with its Agg backend, no display needed.
"""
import argparse
import importlib.util
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MEASURES = {"train": "train step", "eval": "eval forward", "memory": "peak memory"}
# Light and dark shades of one colour per measure: the runs of a measure sit side by side.
COLOURS = {"train": ["#1f77b4", "#aec7e8", "#08306b"], "eval": ["#ff7f0e", "#ffbb78", "#7f2704"],
           "memory": ["#2ca02c", "#98df8a", "#00441b"]}


def _models_module():
    """benchmarks/models.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location("benchmark_models", os.path.join(HERE, "models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ratio(row, what):
    """The ratio minicnn / PyTorch of ``what`` in one result row (NaN where not measured)."""
    if what == "memory":
        return row["memory"]["ratio"] if "memory" in row else float("nan")
    return row[what]["ratio_median"]


def _facts(runs, key):
    """The values of ``key`` in the runs, each once: "3" or "3, 5"."""
    return ", ".join(sorted({str(run.get(key, "?")) for run in runs}))


def panels(runs, whats):
    """[(batch, title, model names, series)]: one panel per batch size, smallest first."""
    out = []
    for batch in sorted({run["batch"] for run in runs}):
        mine = [run for run in runs if run["batch"] == batch]
        names = []
        for run in mine:
            names += [r["model"] for r in run["results"] if r["model"] not in names]
        series = []
        for what in whats:
            for k, run in enumerate(mine):
                if what == "memory" and not any("memory" in r for r in run["results"]):
                    continue
                rows = {r["model"]: r for r in run["results"]}
                label = MEASURES[what] + (f", run {k + 1}" if len(mine) > 1 else "")
                values = [ratio(rows[n], what) if n in rows else float("nan") for n in names]
                series.append((what, label, values))
        title = (f"batch {batch}: {len(mine)} run{'s' if len(mine) > 1 else ''} "
                 f"({_facts(mine, 'date')}), {_facts(mine, 'threads')} threads, "
                 f"median of {_facts(mine, 'repeats')} repeats")
        if series:                        # none where --what memory meets runs without it
            out.append((batch, title, names, series))
    return out


def plot_results(paths, output, whats=("train", "eval")):
    """Draw the runs in the JSON files ``paths`` to the image ``output``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    draw_ratios = _models_module().draw_ratios
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    drawn = panels(runs, whats)
    if not drawn:
        raise SystemExit(f"plot_results.py: no {' or '.join(whats)} ratios in {', '.join(paths)}")
    fig = Figure(figsize=(9, 3.6 * len(drawn)))
    FigureCanvasAgg(fig)
    for i, (batch, title, names, series) in enumerate(drawn):
        ax = fig.add_subplot(len(drawn), 1, i + 1)
        colours, seen = [], {}
        for what, _, _ in series:
            seen[what] = seen.get(what, -1) + 1
            colours.append(COLOURS[what][seen[what] % len(COLOURS[what])])
        ax.set_prop_cycle(color=colours)
        draw_ratios(ax, names, [(label, values) for _, label, values in series])
        top = max(v for _, _, values in series for v in values if not np.isnan(v))
        ax.set_ylim(0, 1.3 * max(top, 1.0))
        ax.legend(ncol=min(len(series), 3), fontsize="small", loc="upper left")   # 3 per row: fits 9 in
        ax.set_title(title, fontsize="medium")
    versions = runs[0].get("versions", {})
    if versions:
        fig.suptitle("minicnn / PyTorch on the CPU: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
                     fontsize="medium")
    fig.tight_layout()
    fig.savefig(output)
    return output


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="+", help="result files written by benchmarks/models.py")
    p.add_argument("-o", "--output", required=True, metavar="PNG", help="the image to write")
    p.add_argument("--what", nargs="+", choices=list(MEASURES), default=["train", "eval"],
                   help="the ratios to draw (default: train eval)")
    args = p.parse_args(argv)
    print(f"wrote {plot_results(args.json, args.output, args.what)}")


if __name__ == "__main__":
    main()
