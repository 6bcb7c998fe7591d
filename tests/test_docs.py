"""The worked examples in docs/training.md and docs/transfer-learning.md run as written.

Each guide's ```python blocks are executed in order, in one namespace, in an empty
temporary folder -- as a reader copying them into a session would.  Blocks that import
torch are skipped (with the rest of the guide) when PyTorch is not installed.
"""
import importlib.util
import os
import re

import pytest

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs")
GUIDES = ["training.md", "transfer-learning.md"]


def python_blocks(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), flags=re.S | re.M)


@pytest.mark.parametrize("name", GUIDES)
def test_guide_examples_run(name, tmp_path, monkeypatch):
    blocks = python_blocks(name)
    assert len(blocks) >= 5, f"{name}: expected its worked examples, found {len(blocks)} blocks"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc_example__"}
    for i, code in enumerate(blocks):
        needs_torch = re.search(r"^import torch", code, flags=re.M) is not None
        if needs_torch and importlib.util.find_spec("torch") is None:
            pytest.skip(f"{name}: block {i} and the rest need PyTorch")
        exec(compile(code, f"{name}, python block {i}", "exec"), namespace)
    if name == "training.md":      # what the guide says fit wrote, and the resumed history
        assert {"checkpoint.npz", "curves.png", "metrics.jsonl"} <= set(
            os.listdir(tmp_path / "runs" / "digits"))
        assert [r["epoch"] for r in namespace["history"]] == [1, 2, 3, 4]

