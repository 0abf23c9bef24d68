"""One reader per format. Each module exposes ``read(source, ctx) -> FileEntry``.

A reader reads only what it needs (headers, metadata, pickle programs — not tensor bytes), never executes
anything, and reports problems as :class:`~weightwarden.artifact.model.Anomaly` records or, when it cannot
go on, by setting ``FileEntry.error`` while keeping what it already read. It may raise; the loader turns any
exception into a per-file error naming the file and the reason.

Modules are imported on first use so that reading a folder of safetensors never imports onnx or h5py.
"""

from __future__ import annotations

from weightwarden.artifact.model import Format

# Format -> module under weightwarden.artifact.readers that reads it.
READER_MODULES: dict[Format, str] = {
    Format.SAFETENSORS: "safetensors",
    Format.PYTORCH_LEGACY: "pytorch_legacy",
    Format.PICKLE: "pickle_file",
    Format.NUMPY: "numpy_file",
    Format.ZIP: "zipfile_reader",  # zip family: decides PyTorch zip / npz / .keras / plain zip by members
    Format.HDF5: "keras_h5",
    Format.SAVEDMODEL: "savedmodel",
    Format.ONNX: "onnx_file",
    Format.GGUF: "gguf_file",
    Format.TAR: "tar_reader",
    Format.SEVEN_ZIP: "sevenzip_reader",
    Format.COMPRESSED: "compressed",  # gzip/bz2/xz/lzma/lz4/zlib: joblib compressed pickles and others
    Format.HF_TOKENIZER_CONFIG: "hf_config",
    Format.JINJA_TEMPLATE: "hf_config",
    Format.JSON: "hf_config",
}
