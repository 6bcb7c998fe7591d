"""Lesson 09's chart cites torchvision's published ImageNet numbers: the table in the
lesson must be what torchvision's weight metadata says (no download: the metadata ships
with torchvision)."""
import ast
import os

import pytest

LESSON = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "docs", "lessons",
                      "09_beyond_resnet.py")


def lesson_table():
    with open(LESSON, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "TORCHVISION":
            return ast.literal_eval(node.value)
    raise AssertionError("no TORCHVISION table in lesson 09")


def test_the_cited_accuracies_and_operations_are_torchvisions():
    models = pytest.importorskip("torchvision.models")
    table = lesson_table()
    assert len(table) == 13
    for name, (top1, ops, size) in table.items():
        weights = models.get_model_weights(name).IMAGENET1K_V1
        assert top1 == weights.meta["_metrics"]["ImageNet-1K"]["acc@1"], name
        assert ops == weights.meta["_ops"], name
        assert size == (299 if name == "inception_v3" else 224), name
