"""minicnn.io.pth: reading torch.save checkpoints without torch and without running code."""
import collections
import io
import json
import os
import pickle
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch
import torchvision

from minicnn.io import UnsafePickleError, load_pth, read_pth


def as_numpy(t):
    t = t.detach()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def assert_same_state(ours, theirs):
    assert list(ours) == list(theirs)                       # same keys, same order
    for key, value in theirs.items():
        expected = as_numpy(value)
        assert ours[key].dtype == expected.dtype, key
        assert ours[key].shape == expected.shape, key
        np.testing.assert_array_equal(ours[key], expected, err_msg=key)


def small_resnet():
    torch.manual_seed(0)
    model = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1],
                                             num_classes=10)
    model(torch.randn(2, 3, 32, 32))      # training-mode forward: non-trivial BN statistics
    return model


def test_torchvision_checkpoint_loads_in_a_process_where_torch_cannot_be_imported(tmp_path):
    state = small_resnet().state_dict()
    path, out = tmp_path / "resnet.pth", tmp_path / "loaded.npz"
    torch.save(state, path)
    code = f"""
import sys
sys.modules["torch"] = None            # any "import torch" now raises ImportError
sys.modules["torchvision"] = None
import json
import numpy as np
from minicnn.io import load_pth
state = load_pth({str(path)!r})
np.savez({str(out)!r}, *state.values())
print(json.dumps(list(state)))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    keys = json.loads(result.stdout.strip().splitlines()[-1])
    with np.load(out) as f:
        loaded = collections.OrderedDict(zip(keys, (f[f"arr_{i}"] for i in range(len(keys)))))
    assert "layer4.0.bn2.running_var" in loaded and "fc.weight" in loaded
    assert loaded["bn1.num_batches_tracked"].dtype == np.int64
    assert_same_state(loaded, state)


def test_views_offsets_strides_and_dtypes_round_trip(tmp_path):
    base = torch.arange(60, dtype=torch.float64).reshape(6, 10)
    obj = {
        "transposed": base.t(),                   # strides (1, 10)
        "sliced": base[1:, ::3],                  # offset 10, strides (10, 3)
        "offset": base.view(-1)[7:19],            # offset into a shared storage
        "row": base[4],
        "expanded": torch.arange(3.0).reshape(3, 1).expand(3, 4),   # stride 0
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "float32": torch.randn(2, 3),
        "float16": torch.randn(4).half(),
        "bfloat16": torch.randn(4).bfloat16(),
        "int64": torch.tensor([-(2 ** 40), 5]),
        "int32": torch.tensor([1, -2], dtype=torch.int32),
        "int16": torch.tensor([300, -7], dtype=torch.int16),
        "int8": torch.tensor([-100, 7], dtype=torch.int8),
        "uint8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "parameter": torch.nn.Parameter(torch.randn(3)),
    }
    path = tmp_path / "views.pth"
    torch.save(obj, path)
    loaded = load_pth(path)
    assert_same_state(loaded, obj)
    assert loaded["bfloat16"].dtype == np.float32           # no bfloat16 in NumPy
    assert loaded["transposed"].flags.c_contiguous and loaded["transposed"].flags.writeable


def test_common_wrappers_are_unwrapped(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    for key in ["state_dict", "model"]:
        path = tmp_path / f"{key}.pth"
        torch.save({"epoch": 7, key: model.state_dict(), "optimizer": opt.state_dict(),
                    "note": "hello"}, path)
        assert_same_state(load_pth(path), model.state_dict())
        whole = read_pth(path)
        assert whole["epoch"] == 7 and whole["note"] == "hello"
        assert whole["optimizer"]["param_groups"][0]["lr"] == 0.1
        np.testing.assert_array_equal(whole["optimizer"]["state"][0]["momentum_buffer"],
                                      opt.state_dict()["state"][0]["momentum_buffer"].numpy())
    path = tmp_path / "other.pth"
    torch.save({"weights": [torch.ones(2)]}, path)
    with pytest.raises(ValueError, match="not a state dict .* found \\{'weights': list\\}"):
        load_pth(path)


def write_pth(path, data_pkl, storages=()):
    """A zip laid out like torch.save's, with a data.pkl of our choosing."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        for key, raw in storages:
            z.writestr(f"archive/data/{key}", raw)
        z.writestr("archive/version", "3\n")


@pytest.mark.parametrize("attack", ["os.system", "eval", "subprocess.call", "nested"])
def test_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path, attack):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            if attack == "eval":
                return eval, (f"open({str(marker)!r}, 'w')",)
            if attack == "subprocess.call":
                return subprocess.call, (["touch", str(marker)],)
            return os.system, (f"touch {marker}",)
    payload = {"weight": Evil()} if attack == "nested" else Evil()
    path = tmp_path / "evil.pth"
    write_pth(path, pickle.dumps(collections.OrderedDict(a=payload) if attack == "nested"
                                 else payload, protocol=2))
    with pytest.raises(UnsafePickleError, match=f"refusing to load .* from {path}: only tensors "
                                                "and containers are allowed"):
        load_pth(path)
    assert not marker.exists()


class _FakeStorage:
    pass


class _FakeTensor:
    """Pickles exactly like a torch tensor record, with the size/stride we choose."""

    def __init__(self, size, stride, offset=0):
        self.storage, self.args = _FakeStorage(), (offset, size, stride)

    def __reduce__(self):
        offset, size, stride = self.args
        return torch._utils._rebuild_tensor_v2, (self.storage, offset, size, stride, False,
                                                 collections.OrderedDict())


def crafted_pth(path, tensor, numel=4, raw=bytes(16)):
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=2)
    pickler.persistent_id = lambda obj: (("storage", torch.FloatStorage, "0", "cpu", numel)
                                         if isinstance(obj, _FakeStorage) else None)
    pickler.dump({"w": tensor})
    write_pth(path, buf.getvalue(), [("0", raw)])


def test_crafted_tensor_reaching_outside_its_storage_is_refused(tmp_path):
    path = tmp_path / "oob.pth"
    crafted_pth(path, _FakeTensor((100,), (1,)))
    with pytest.raises(UnsafePickleError, match="reach element 99 of a storage with 4"):
        load_pth(path)
    crafted_pth(path, _FakeTensor((2,), (1,), offset=3))
    with pytest.raises(UnsafePickleError, match="reach element 4 of a storage with 4"):
        load_pth(path)
    crafted_pth(path, _FakeTensor((2,), (-1,), offset=3))
    with pytest.raises(UnsafePickleError, match="malformed tensor record"):
        load_pth(path)
    crafted_pth(path, _FakeTensor((2, 2), (2, 1)), numel=4, raw=bytes(8))
    with pytest.raises(ValueError, match="holds 8 bytes, expected 4 x torch.FloatStorage"):
        load_pth(path)
    crafted_pth(path, _FakeTensor((2, 2), (1, 2)))          # a valid transposed view
    np.testing.assert_array_equal(load_pth(path)["w"], np.zeros((2, 2), np.float32))


def test_a_repeating_record_is_not_copied_out_of_its_storage(tmp_path):
    """A few hundred bytes of file, one float of storage, strides (0, 0): copying the
    (3000, 3000) tensor out would allocate 36 MB (a (20000, 20000) record: 1.6 GB).
    It must stay a read-only view of the storage, as torch.load keeps it."""
    path = tmp_path / "stride0.pth"
    crafted_pth(path, _FakeTensor((3000, 3000), (0, 0)), numel=1,
                raw=np.float32(2.5).tobytes())
    assert os.path.getsize(path) < 1000
    tracemalloc.start()
    try:
        w = load_pth(path)["w"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"{peak} bytes allocated"
    assert w.shape == (3000, 3000) and w[1234, 2345] == 2.5 and not w.flags.writeable


def test_legacy_and_non_checkpoint_files_give_clear_errors(tmp_path):
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy.pth is not a zip archive.*legacy format"):
        load_pth(legacy)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_pth(tmp_path / "missing.pth")
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ValueError, match="expected exactly one <name>/data.pkl"):
        load_pth(other_zip)
    missing_storage = tmp_path / "missing_storage.pth"
    crafted_pth(missing_storage, _FakeTensor((2,), (1,)))
    with zipfile.ZipFile(missing_storage) as z:
        data_pkl = z.read("archive/data.pkl")
    write_pth(missing_storage, data_pkl)                     # drop data/0
    with pytest.raises(ValueError, match="storage archive/data/0 is missing"):
        load_pth(missing_storage)


@pytest.mark.filterwarnings("ignore:.*is deprecated")      # torch.jit is deprecated
def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(ValueError, match="TorchScript archive"):
        load_pth(path)


def test_a_storage_is_sized_before_it_is_decompressed(tmp_path):
    """A record of one float whose storage entry unpacks to 64 MiB (deflated, a few KB in
    the file): only the 4 bytes the record needs are ever decompressed."""
    path = tmp_path / "bomb.pth"
    crafted_pth(path, _FakeTensor((1,), (1,)), numel=1, raw=np.float32(2.5).tobytes())
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    entries["archive/data/0"] = np.float32(2.5).tobytes() + bytes(64 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, raw in entries.items():
            z.writestr(name, raw)
    assert os.path.getsize(path) < 1_000_000
    tracemalloc.start()
    try:
        w = load_pth(path)["w"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"{peak} bytes allocated"
    assert w.tolist() == [2.5]


def test_a_damaged_archive_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "damaged.pth"
    torch.save({"w": torch.ones(1000)}, path)
    raw = bytearray(path.read_bytes())
    start = raw.index(np.ones(4, np.float32).tobytes())      # inside the storage's bytes
    raw[start:start + 16] = bytes(16)                          # its CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"load_pth: .*damaged.pth is damaged \(BadZipFile"):
        load_pth(path)
