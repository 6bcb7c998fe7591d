"""The onnx package stays optional: ``import minicnn`` (and the command line) never imports
it, and without it ``mc.onnx`` and ``minicnn export`` say what to install."""
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import main


def test_import_minicnn_does_not_import_onnx():
    code = ("import sys, minicnn, minicnn.onnx, minicnn.cli; "
            "assert not [m for m in sys.modules if m.startswith(('onnx', 'onnxruntime'))], "
            "'imported onnx'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_without_onnx_export_and_load_say_what_to_install(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)          # as if it were not installed
    model = mc.models.small_cnn()
    with pytest.raises(ImportError, match=r'onnx.export needs the onnx package: pip install -e '
                                          r'"\.\[onnx\]"'):
        mc.onnx.export(model, np.zeros((1, 1, 8, 8), np.float32), tmp_path / "m.onnx")
    with pytest.raises(ImportError, match=r"onnx.load needs the onnx package"):
        mc.onnx.load(tmp_path / "m.onnx")
    assert main(["export", "small_cnn", "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "onnx package" in err
    assert list(tmp_path.iterdir()) == []
