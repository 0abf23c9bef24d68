"""Element-type tables every reader shares: the names safetensors uses for element types, their widths,
and how PyTorch checkpoints name the same types (storage classes and ``torch.<dtype>`` globals).

One table each, so that a reader cannot learn a type another one rejects. Readers that accept less (the
tensor rebuilder refuses quantized storages; legacy checkpoints predate the unsigned wide types) derive their
subset from these, with the reason next to it.
"""

from __future__ import annotations

# safetensors element type -> bits per element (the format's own list, sub-byte float types included).
ELEMENT_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}

# PyTorch storage class (``torch.<Name>`` in a checkpoint's pickle) -> (element type, bytes per element).
TORCH_STORAGE_TYPES: dict[str, tuple[str, int]] = {
    "FloatStorage": ("F32", 4),
    "DoubleStorage": ("F64", 8),
    "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2),
    "LongStorage": ("I64", 8),
    "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2),
    "CharStorage": ("I8", 1),
    "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1),
    "ComplexFloatStorage": ("C64", 8),
    "ComplexDoubleStorage": ("C128", 16),
    "UInt16Storage": ("U16", 2),
    "UInt32Storage": ("U32", 4),
    "UInt64Storage": ("U64", 8),
    "QInt8Storage": ("QI8", 1),
    "QUInt8Storage": ("QU8", 1),
    "QInt32Storage": ("QI32", 4),
    "UntypedStorage": ("U8", 1),  # bytes; the tensor's dtype says how to read them
}
QUANTIZED_STORAGES = frozenset({"QInt8Storage", "QUInt8Storage", "QInt32Storage"})

# ``torch.<dtype>`` globals (``_rebuild_tensor_v3`` names the dtype explicitly) -> (element type, bytes).
TORCH_DTYPES: dict[str, tuple[str, int]] = {
    "torch.float32": ("F32", 4), "torch.float": ("F32", 4), "torch.float64": ("F64", 8), "torch.double": ("F64", 8),
    "torch.float16": ("F16", 2), "torch.half": ("F16", 2), "torch.bfloat16": ("BF16", 2),
    "torch.int64": ("I64", 8), "torch.long": ("I64", 8), "torch.int32": ("I32", 4), "torch.int": ("I32", 4),
    "torch.int16": ("I16", 2), "torch.short": ("I16", 2), "torch.int8": ("I8", 1), "torch.uint8": ("U8", 1),
    "torch.bool": ("BOOL", 1), "torch.complex64": ("C64", 8), "torch.complex128": ("C128", 16),
    "torch.uint16": ("U16", 2), "torch.uint32": ("U32", 4), "torch.uint64": ("U64", 8),
}
