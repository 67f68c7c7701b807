"""Recognise a file's format from its content (never its name), and whether loading it can unpickle.

``sniff_file`` reads a small prefix (plus a zip's central directory) and returns a typed ``Sniffed``:
a format label and ``pickle_bearing`` — True when the loader a user would reach for
(``torch.load``, ``pickle.load``, ``numpy.load(allow_pickle=True)``, ``joblib.load``) unpickles part of
it. ``check_structure`` scans every pickle-bearing artifact, whatever its extension or role, and
``assay init`` puts such files in the ``weights`` role so they are always scanned.

Recognised: safetensors, gguf, hdf5, tflite, msgpack maps (Flax), onnx (protobuf; see ``_is_onnx``), zip
archives (``torch-zip`` when a ``*.pkl`` member exists, ``npz`` when every member is ``.npy``, else ``zip``),
``npy`` (object dtype ⇒ pickle payload), bare pickles (``pickle``, or ``torch-legacy`` when the first pickle
is torch's magic number), compressed pickles (``joblib``: gzip/zlib/bz2/xz/lzma/lz4 streams whose content
starts like a pickle, or any lz4 stream, which the stdlib cannot open: pickle-bearing until shown otherwise),
``json``, ``text``, ``empty``; anything else is ``unknown``.

Protocol 0/1 pickles have no header, so they are recognised by walking their first opcodes with
``pickletools.genops``: a walk that reaches STOP, or that meets an import (GLOBAL/INST) of a dotted
identifier before it breaks, is a pickle (``pickle.load`` would execute everything up to the break).
Text that merely starts with opcode letters (``import os`` reads as INST "mport os") fails both
tests and stays text.
"""

from __future__ import annotations

import bz2
import io
import lzma
import os
import zipfile
import zlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from .pickle_scan import (
    NPY_MAGIC,
    SNIFF_PREFIX,
    TORCH_LEGACY_MAGIC,
    ZIP_MAGIC,
    compression_of,
    looks_like_pickle,
    npy_has_objects,
    parse_npy_header,
    zip_members,
)

Format = Literal[
    "safetensors",
    "pickle",
    "torch-legacy",
    "torch-zip",
    "npy",
    "npz",
    "joblib",
    "zip",
    "gguf",
    "onnx",
    "hdf5",
    "tflite",
    "msgpack",
    "json",
    "text",
    "empty",
    "unknown",
]
# Formats whose content an assay check knows; "unknown" in a weights or code role is a finding.
PREFIX = SNIFF_PREFIX
_LEGACY_HEAD = b"\x80\x02\x8a\x0a" + TORCH_LEGACY_MAGIC.to_bytes(10, "little")


class Sniffed(BaseModel):
    format: Format
    pickle_bearing: bool
    detail: str | None = None  # e.g. "compressed: gzip", "object dtype", "member archive/data.pkl"


def sniff_bytes(head: bytes, name: str = "") -> Sniffed:
    """Classify a file prefix (no zip handling: needs the whole file; see ``sniff_file``).

    A prefix that carries another format's magic but also walks as a pickle (a polyglot: ``GGUF`` is a valid
    BINFLOAT opcode, for one) is pickle-bearing too, since ``pickle.load`` would run it.
    """
    found = _classify(head, name)
    if not found.pickle_bearing and found.format not in ("empty", "text", "json") and looks_like_pickle(head):
        return Sniffed(format=found.format, pickle_bearing=True, detail="polyglot: the bytes also parse as a pickle")
    return found


def _classify(head: bytes, name: str) -> Sniffed:
    if not head:
        return Sniffed(format="empty", pickle_bearing=False)
    if head.startswith(NPY_MAGIC):
        header, err = parse_npy_header(io.BytesIO(head))
        if header is None:
            # a truncated prefix cannot be judged: numpy.load would still unpickle an object payload
            return Sniffed(format="npy", pickle_bearing=True, detail=f"header unreadable ({err})")
        objects = npy_has_objects(header["descr"])
        return Sniffed(format="npy", pickle_bearing=objects, detail="object dtype" if objects else None)
    if _is_safetensors(head):
        return Sniffed(format="safetensors", pickle_bearing=False)
    if head.startswith(b"GGUF"):
        return Sniffed(format="gguf", pickle_bearing=False)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Sniffed(format="hdf5", pickle_bearing=False)
    if head[4:8] == b"TFL3":
        return Sniffed(format="tflite", pickle_bearing=False)
    if head.startswith(_LEGACY_HEAD):
        return Sniffed(format="torch-legacy", pickle_bearing=True)
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        if b"joblib.numpy_pickle" in head:  # joblib.dump without compression: a pickle naming its array wrapper
            return Sniffed(format="joblib", pickle_bearing=True, detail=f"uncompressed, protocol {head[1]}")
        return Sniffed(format="pickle", pickle_bearing=True, detail=f"protocol {head[1]}")
    if _is_msgpack_map(head):
        return Sniffed(format="msgpack", pickle_bearing=False)
    kind = compression_of(head)
    if kind is not None:
        return _sniff_compressed(head, kind)
    if looks_like_pickle(head):
        return Sniffed(format="pickle", pickle_bearing=True, detail="protocol 0/1")
    if _is_onnx(head, name):
        return Sniffed(format="onnx", pickle_bearing=False)
    text = _text(head)
    if text is not None:
        stripped = text.lstrip()
        return Sniffed(format="json" if stripped[:1] in ("{", "[") else "text", pickle_bearing=False)
    return Sniffed(format="unknown", pickle_bearing=False)


def sniff_file(path: str | os.PathLike[str]) -> Sniffed:
    """Classify a file by content; raises OSError only if it cannot be read."""
    with open(path, "rb") as f:
        head = f.read(PREFIX)
        if head.startswith((ZIP_MAGIC, b"PK\x05\x06")):
            f.seek(0)
            return _sniff_zip(f)
    return sniff_bytes(head, Path(path).name)


def _sniff_zip(f: io.BufferedReader) -> Sniffed:
    try:
        with zipfile.ZipFile(f) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
            members = zip_members(zf)
    except Exception as e:  # noqa: BLE001 -- any parser failure on a hostile archive
        # torch.load decides "zip" by the magic alone and then fails or loads; fail closed: scan it
        return Sniffed(format="torch-zip", pickle_bearing=True, detail=f"unreadable zip ({e})")
    pkl = [i.filename for i, kind in members if kind == "pickle"]
    if any(n.lower().endswith(".pkl") for n in pkl):
        return Sniffed(format="torch-zip", pickle_bearing=True, detail=f"member {pkl[0]}")
    if names and all(n.lower().endswith(".npy") for n in names):
        return Sniffed(format="npz", pickle_bearing=True, detail=f"{len(names)} arrays")
    if members:
        return Sniffed(
            format="zip",
            pickle_bearing=True,
            detail="members a loader could unpickle: " + ", ".join(f"{i.filename} ({k})" for i, k in members[:5]),
        )
    return Sniffed(format="zip", pickle_bearing=False, detail=f"{len(names)} members")


def _sniff_compressed(head: bytes, kind: str) -> Sniffed:
    if kind == "lz4":
        return Sniffed(format="joblib", pickle_bearing=True, detail="compressed: lz4 (no stdlib decoder)")
    try:
        if kind == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = d.decompress(head, 64)
        elif kind in ("zlib", "zlib-zf"):
            out = zlib.decompressobj().decompress(head[18:] if kind == "zlib-zf" else head, 64)
        elif kind == "bz2":
            out = bz2.BZ2Decompressor().decompress(head, 64)
        else:
            out = lzma.LZMADecompressor().decompress(head, 64)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        return Sniffed(format="unknown", pickle_bearing=False, detail=f"corrupt {kind} stream")
    inner = sniff_bytes(out) if out else Sniffed(format="unknown", pickle_bearing=False)
    if inner.pickle_bearing:
        return Sniffed(format="joblib", pickle_bearing=True, detail=f"compressed: {kind}")
    return Sniffed(format="unknown", pickle_bearing=False, detail=f"{kind}-compressed {inner.format}")


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 10:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= 100_000_000 and head[8:9] == b"{"


def _is_msgpack_map(head: bytes) -> bool:
    # Flax checkpoints: a msgpack map (fixmap 0x80-0x8f, map16 0xde, map32 0xdf) whose first key is a string
    # (fixstr 0xa0-0xbf, str8 0xd9, str16 0xda). PROTO (0x80 + 0..5) was ruled out just before.
    if len(head) < 3:
        return False
    skip = {0xDE: 3, 0xDF: 5}.get(head[0], 1 if 0x81 <= head[0] <= 0x8F else 0)
    return bool(skip) and len(head) > skip and (0xA0 <= head[skip] <= 0xBF or head[skip] in (0xD9, 0xDA))


def _is_onnx(head: bytes, name: str) -> bool:
    # ModelProto's first field is ir_version (field 1, varint: tag 0x08) in every exporter's output;
    # a one-byte tag is too weak alone, so the file name must agree.
    return head[:1] == b"\x08" and name.lower().endswith(".onnx")


def _text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as e:
        if len(head) == PREFIX and e.start >= len(head) - 3:  # a multi-byte character cut by the prefix
            try:
                return head[: e.start].decode("utf-8")
            except UnicodeDecodeError:
                return None
        return None
