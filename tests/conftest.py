"""Shared pytest setup: the ``gpu`` marker.

Tests marked ``@pytest.mark.gpu`` need CuPy and a CUDA GPU; elsewhere they are
skipped with the reason.  Run only them with ``pytest -m gpu``.
"""
import pytest


def pytest_configure(config):
    # the slowest tests, printed at the end of every run (CI's log included): the suite must
    # stay well under 15 minutes on 2 cores, and this says where its time goes
    if getattr(config.option, "durations", None) is None:
        config.option.durations = 20
    config.addinivalue_line("markers", "gpu: needs CuPy and a CUDA GPU (run with `pytest -m gpu`)")
    config.addinivalue_line("markers", "wheel: builds and installs the wheel in a new virtual "
                            "environment (deselect with `-m \"not wheel\"`)")


def pytest_collection_modifyitems(config, items):
    gpu_tests = [item for item in items if "gpu" in item.keywords]
    if not gpu_tests:
        return
    from minicnn import backend
    if backend.cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU: "
                                   f"{backend._cupy_error or 'CuPy not usable'}")
    for item in gpu_tests:
        item.add_marker(skip)
