"""Read a GGUF model file's metadata header (bounded: it stops at the key it needs, and refuses absurd sizes).

Used for the context window the model was trained with (``<architecture>.context_length``), so the local judge can
use as much context as the model supports when asked (``local_context = 0``).
Format: magic ``GGUF``, version (u32), tensor count (u64), key-value count (u64), then key-value pairs of a
length-prefixed UTF-8 key, a value type (u32) and the value; all little-endian.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from ..errors import DrevalError

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
MAX_KEYS = 100_000
MAX_STRING = 1 << 20  # a longer key or value means the file is not what it claims
MAX_ARRAY_BYTES = 1 << 32
MAX_CONTEXT = 1 << 24  # 16.7M tokens, above any model's window; more is a hostile header (llama.cpp's n_ctx is int32)


class GGUFError(DrevalError, ValueError):
    pass


def _read(handle: BinaryIO, fmt: str) -> int | float | bool:
    size = struct.calcsize("<" + fmt)
    data = handle.read(size)
    if len(data) != size:
        raise GGUFError("truncated metadata")
    value: int | float | bool = struct.unpack("<" + fmt, data)[0]
    return value


def _string(handle: BinaryIO) -> str:
    length = int(_read(handle, "Q"))
    if length > MAX_STRING:
        raise GGUFError(f"a metadata string of {length} bytes")
    data = handle.read(length)
    if len(data) != length:
        raise GGUFError("truncated metadata")
    return data.decode("utf-8", errors="replace")


def _value(handle: BinaryIO, kind: int, depth: int = 0) -> object:
    if depth > 2:
        raise GGUFError("metadata arrays nested too deeply")
    if kind in _SCALARS:
        return _read(handle, _SCALARS[kind])
    if kind == _STRING:
        return _string(handle)
    if kind == _ARRAY:
        inner, count = int(_read(handle, "I")), int(_read(handle, "Q"))
        if inner in _SCALARS:  # skipped in one seek: tokenizer tables hold hundreds of thousands of entries
            size = count * struct.calcsize("<" + _SCALARS[inner])
            if size > MAX_ARRAY_BYTES:
                raise GGUFError(f"a metadata array of {size} bytes")
            handle.seek(size, 1)
        else:
            if count > MAX_KEYS * 100:
                raise GGUFError(f"a metadata array of {count} entries")
            for _ in range(count):
                _value(handle, inner, depth + 1)
        return None
    raise GGUFError(f"unknown metadata value type {kind}")


def context_length(path: Path) -> int | None:
    """The ``<architecture>.context_length`` of a GGUF file, or None when it does not say."""
    with Path(path).open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise GGUFError(f"{path} is not a GGUF file")
        version = _read(handle, "I")
        if version < 2:
            raise GGUFError(f"GGUF version {version} is not supported")
        _read(handle, "Q")  # tensors
        keys = int(_read(handle, "Q"))
        if keys > MAX_KEYS:
            raise GGUFError(f"{keys} metadata keys")
        architecture = None
        for _ in range(keys):
            key = _string(handle)
            kind = int(_read(handle, "I"))
            value = _value(handle, kind)
            if key == "general.architecture":
                architecture = value
            elif architecture and key == f"{architecture}.context_length":
                return _in_range(key, value)
    return None


def _in_range(key: str, value: object) -> int:
    """A context length a model can have, or one error naming the key and the value (never an OverflowError later,
    when the runtime is handed it)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONTEXT:
        raise GGUFError(f"{key} = {value!r:.40} is out of range (an integer from 1 to {MAX_CONTEXT})")
    return value
