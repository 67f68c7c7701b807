"""Decide whether a pickle-bearing file can do more than rebuild tensors, without ever unpickling it.

Unpickling runs code: every callable a pickle uses must first be imported through GLOBAL, INST or
STACK_GLOBAL (or a copyreg extension code, EXT1/2/4). So the scan lists those imports, and the
verdict is an ALLOWLIST: only the globals a real checkpoint needs to rebuild its tensors pass,
exactly the set torch's ``weights_only`` unpickler allows (torch 2.13,
``torch/_weights_only_unpickler.py``: ``_get_allowed_globals`` + ``_tensor_rebuild_functions``),
plus numpy's array reconstruction (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``, the
``numpy.dtypes.*DType`` classes) and the inert builtin containers (dict, list, tuple, set, frozenset,
bytearray, complex). Every other global is an error that
names it, its byte offset and opcode, e.g. ``global pip.main at offset 12 (STACK_GLOBAL) is not in
the allowlist``. That includes harmless-looking classes such as ``argparse.Namespace`` or
``__main__.MyConfig`` that training scripts leave in checkpoints: they fail on purpose, because
"unknown" is exactly where the public exploit corpora hide (``pip.main``, ``venv.create``,
``pydoc.pipepager``, ``logging.FileHandler``, ...). There is no option to allow more globals; a
release that needs them should ship safetensors. Well-known dangerous globals still carry the
``dangerous`` label (``PickleReport.dangerous``) so messages can say so.

Opcodes are walked with ``pickletools.genops`` only; nothing is ever loaded. Besides the imports:

* STACK_GLOBAL takes module and name from the stack, so a small stack and memo model tracks string
  constants through MEMOIZE/PUT/BINPUT/LONG_BINPUT and GET/BINGET/LONG_BINGET; a STACK_GLOBAL the
  model cannot resolve to two string constants is an error;
* REDUCE, NEWOBJ, NEWOBJ_EX and OBJ must call a value that the model resolved to an allowlisted
  global (INST names its class inline, so its import check covers it); anything else is an error;
* EXT1/2/4 (copyreg extension codes) always fail: they import whatever the loading process
  registered, which no file can vouch for;
* any pickle that would fail to load (stack underflow, missing MARK, truncation, bad opcode) is an
  error: the report never passes what it could not read.

Containers (what the file's first bytes say, the way ``torch.load``/``numpy.load``/``joblib.load``
decide; file names are never consulted):

* zip (torch >= 1.6 checkpoints and TorchScript, any extension; ``.npz``): every member named
  ``*.pkl``/``*.pickle`` is scanned in place, and every ``*.npy`` member is read as below;
* npy (``\\x93NUMPY``): an object-dtype array's payload is a pickle and is scanned; numeric arrays
  hold no pickle;
* compressed (joblib's zlib/gzip/bz2/xz/lzma streams): decompressed on the fly with the stdlib and
  scanned; lz4 (no stdlib decoder) is an error, never a pass;
* raw: a plain pickle, or several pickles back to back, scanned until EOF. The legacy torch format
  (first pickle = torch's magic number) is five pickles followed by raw storage bytes that torch
  reads directly, so scanning stops after the fifth pickle.
"""

from __future__ import annotations

import ast
import bz2
import gzip
import io
import lzma
import os
import pickletools
import re
import warnings
import zipfile
import zlib
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from typing import IO, Any, BinaryIO, Literal, cast

from pydantic import BaseModel

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
ZIP_MAGIC = b"PK\x03\x04"  # torch.serialization._is_zipfile checks exactly this prefix
NPY_MAGIC = b"\x93NUMPY"
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
TORCH_LEGACY_PICKLES = 5  # magic, protocol version, sys info, data, storage keys
SKIP_OVER = 16 << 20  # opcode arguments larger than this are skipped, not read into memory
MAX_LINE = 256 << 20  # longest protocol-0 text line we will read
MAX_TRACKED_STR = 4096  # longer string constants are not kept by the stack model (no module name is this long)
MAX_NPY_HEADER = 1 << 20

Risk = Literal["safe", "unknown", "dangerous"]
Container = Literal["zip", "raw", "npy", "compressed"]

# ----------------------------------------------------------------------------- allowlist

# torch 2.13's _get_allowed_globals(), written out so that scanning never imports torch;
# tests/test_pickle_scan.py checks this set against the installed torch.
_TORCH_DTYPES = (
    "bfloat16",
    "bits16",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bool",
    "complex128",
    "complex32",
    "complex64",
    "float16",
    "float32",
    "float4_e2m1fn_x2",
    "float64",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "qint32",
    "qint8",
    "quint2x4",
    "quint4x2",
    "quint8",
    *(f"int{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64)),
    *(f"uint{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 64)),
)
_LEGACY_KINDS = ("BFloat16", "Bool", "Byte", "Char", "Double", "Float", "Half", "Int", "Long", "Short")
_TORCH_REBUILD = (
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_qtensor",
    "_rebuild_sparse_tensor",
    "_rebuild_nested_tensor",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass",
    "_rebuild_device_tensor_from_numpy",
    "_rebuild_device_tensor_from_cpu_tensor",
)
TORCH_ALLOWED = frozenset(
    {
        "collections.OrderedDict",
        "collections.Counter",
        "torch.nn.parameter.Parameter",
        "torch.serialization._get_layout",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "_codecs.encode",
        "builtins.bytearray",
        "builtins.set",
        "builtins.complex",
        *(f"torch.{d}" for d in _TORCH_DTYPES),
        *(f"torch.{k}Tensor" for k in _LEGACY_KINDS),
        *(f"torch.cuda.{k}Tensor" for k in _LEGACY_KINDS),
        *(f"torch.sparse.{k}Tensor" for k in _LEGACY_KINDS if k != "Bool"),
        *(f"torch.cuda.sparse.{k}Tensor" for k in _LEGACY_KINDS if k != "Bool"),
        *(
            f"torch.{k}Storage"
            for k in (
                *_LEGACY_KINDS,
                "ComplexDouble",
                "ComplexFloat",
                "QInt32",
                "QInt8",
                "QUInt2x4",
                "QUInt4x2",
                "QUInt8",
            )
        ),
        *(f"torch.cuda.{k}Storage" for k in (*_LEGACY_KINDS, "ComplexDouble", "ComplexFloat")),
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch.per_tensor_affine",
        "torch.per_tensor_symmetric",
        "torch.per_channel_affine",
        "torch.per_channel_symmetric",
        "torch.per_channel_affine_float_qparams",
        *(f"torch._utils.{f}" for f in _TORCH_REBUILD),
        "torch._tensor._rebuild_from_type_v2",
    }
)
# numpy arrays and scalars as np.save(allow_pickle=True), torch and joblib-free pickles write them.
NUMPY_ALLOWED = frozenset(
    {
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.ndarray",
        "numpy.dtype",
    }
)
_NUMPY_DTYPE_CLASS = re.compile(r"numpy\.dtypes\.[A-Za-z0-9]+DType")  # numpy >= 1.25 pickles dtypes by class
# Inert builtin containers (calling them on allowlisted values builds a container, nothing more).
BUILTIN_CONTAINERS = frozenset(
    f"builtins.{n}" for n in ("dict", "list", "tuple", "set", "frozenset", "bytearray", "complex")
)
ALLOWED = TORCH_ALLOWED | NUMPY_ALLOWED | BUILTIN_CONTAINERS

# Only for labelling failures: a global is "dangerous" if its "module.name" path equals one of
# these or starts with one + ".". Anything not allowlisted fails either way.
DANGEROUS_PREFIXES = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "_posixsubprocess",
        "pty",
        "sys",
        "runpy",
        "importlib",
        "code",
        "codeop",
        "ctypes",
        "_ctypes",
        "signal",
        "multiprocessing",
        "asyncio",
        "pip",
        "ensurepip",
        "venv",
        "pydoc",
        "pdb",
        "bdb",
        "timeit",
        "profile",
        "cProfile",
        "trace",
        "webbrowser",
        "shutil",
        "doctest",
        "idlelib",
        "uuid._get_command_stdout",
        "pkgutil",
        "logging",
        "_aix_support",
        "_osx_support",
        "distutils",
        "setuptools",
        "imaplib",
        "_pyrepl",
        "test",
        "torch.utils.collect_env",
        "pickle",
        "_pickle",
        "marshal",
        "shelve",
        "dill",
        "cloudpickle",
        "joblib",
        "socket",
        "_socket",
        "ssl",
        "requests",
        "urllib",
        "urllib3",
        "http",
        "httplib",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "telnetlib",
        "xmlrpc",
        *(
            f"builtins.{n}"
            for n in (
                "eval",
                "exec",
                "compile",
                "open",
                "getattr",
                "setattr",
                "delattr",
                "__import__",
                "globals",
                "locals",
                "vars",
                "input",
                "breakpoint",
                "help",
                "exit",
                "quit",
                "apply",
                "execfile",
            )
        ),
        "io.open",
        "io.FileIO",
        "_io.open",
        "_io.FileIO",
        "io.open_code",
        "_io.open_code",
        "operator.attrgetter",
        "operator.methodcaller",
        "_operator.attrgetter",
        "_operator.methodcaller",
        "functools.partial",
        "functools.reduce",
        "_functools.partial",
        "_functools.reduce",
        "types.FunctionType",
        "types.LambdaType",
        "types.CodeType",
        "types.MethodType",
        "types.ModuleType",
        "torch.load",
        "torch.serialization.load",
        "torch.storage._load_from_bytes",
        "torch.jit",
        "torch.hub",
        "torch._C",
        "torch.package",
        "torch.ops",
        "torch._ops",
        "torch.classes",
        "torch._classes",
        "torch.utils.cpp_extension",
        "torch.distributed",
        "torch._dynamo",
        "torch._inductor",
        "torch.compile",
        "numpy.load",
        "numpy.lib.npyio.load",
        "numpy.testing",
        "numpy.f2py",
        "numpy.distutils",
        "copyreg._extension_registry",
    }
)
_DUNDER = re.compile(r"^__\w+__$")


def canonical_global(module: str, name: str) -> str:
    """``module.name`` with Python-2 names mapped the way ``Unpickler(fix_imports=True)`` maps them."""
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    module = IMPORT_MAPPING.get(module, module)
    return f"{module}.{name}"


def is_allowed(module: str, name: str) -> bool:
    full = canonical_global(module, name)
    return full in ALLOWED or bool(_NUMPY_DTYPE_CLASS.fullmatch(full))


def classify_global(module: str, name: str) -> Risk:
    """ "safe" (allowlisted), "dangerous" (a well-known attack primitive) or "unknown" (fails as well)."""
    if is_allowed(module, name):
        return "safe"
    full = canonical_global(module, name)
    if any(_DUNDER.match(part) for part in full.split(".")[1:]):
        return "dangerous"  # e.g. "OrderedDict.__init__.__globals__" walks into anything
    parts = full.split(".")
    if any(".".join(parts[:i]) in DANGEROUS_PREFIXES for i in range(1, len(parts) + 1)):
        return "dangerous"
    return "unknown"


# ----------------------------------------------------------------------------- models


class PickleGlobal(BaseModel):
    module: str
    name: str
    risk: Risk
    member: str | None  # zip member (or "<raw>"/"<raw#k>"/"<npy>" label) the import came from
    offset: int | None = None  # byte offset of the importing opcode within that pickle
    opcode: str | None = None


class PickleReport(BaseModel):
    path: str
    container: Container
    pickles: list[str]
    globals: list[PickleGlobal]
    dangerous: list[str]  # well-known dangerous globals among the failures (for messages)
    not_allowed: list[str] = []  # every imported global outside the allowlist
    errors: list[str]
    ok: bool


def is_pickle_path(path: str) -> bool:
    """True for the file suffixes that usually hold pickles (torch, numpy, sklearn weights)."""
    return str(path).lower().endswith(PICKLE_SUFFIXES)


# ----------------------------------------------------------------------------- reading


class _Skipped(bytes):
    """Stands in for a huge opcode argument that was skipped rather than read."""

    size: int

    def __new__(cls, size: int) -> _Skipped:  # noqa: PYI034
        obj = super().__new__(cls)
        obj.size = size
        return obj

    def __len__(self) -> int:
        return self.size


class _BoundedReader:
    """File view for genops: never reads past ``size``, skips huge arguments, counts position."""

    def __init__(self, f: IO[bytes], size: int):
        self.f, self.size, self.pos, self.skipped = f, size, 0, False

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def tell(self) -> int:
        return self.pos

    def at_eof(self) -> bool:
        """True when nothing is left (streams of unknown size are probed with a one-byte peek)."""
        if self.remaining <= 0:
            return True
        peek = getattr(self.f, "peek", None)
        if self.size == _UNSIZED and peek is not None:
            return not peek(1)
        return False

    def read(self, n: int = -1) -> bytes:
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        if n > SKIP_OVER:
            self.skipped = True
            left = n
            while left:
                chunk = self.f.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
            self.pos += n - left
            return _Skipped(n - left)
        data = self.f.read(n)
        self.pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        cap = min(self.remaining, MAX_LINE)
        data = self.f.readline(cap if limit is None or limit < 0 else min(limit, cap))
        self.pos += len(data)
        return data


_UNSIZED = 1 << 62  # size of a decompressed stream whose length is unknown


# ----------------------------------------------------------------------------- scanning


class _Global:
    """A resolved import on the model stack; REDUCE/NEWOBJ/OBJ may only call allowlisted ones."""

    __slots__ = ("allowed", "full")

    def __init__(self, full: str, allowed: bool):
        self.full, self.allowed = full, allowed


_MARK = object()
_UNKNOWN = object()
_STRING_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"}
_INT_OPS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"}
_CALLS = {"REDUCE": -2, "NEWOBJ": -2, "NEWOBJ_EX": -3}  # stack position of the callable


class _Scan:
    """Accumulates globals and errors over all pickles of one file."""

    def __init__(self) -> None:
        self.globals: dict[tuple[str, str, str], PickleGlobal] = {}
        self.errors: list[str] = []

    def add_global(self, module: str, name: str, label: str, pos: int | None, opcode: str) -> _Global:
        key = (module, name, label)
        allowed = is_allowed(module, name)
        if key not in self.globals:
            risk = classify_global(module, name)
            self.globals[key] = PickleGlobal(
                module=module, name=name, member=label, risk=risk, offset=pos, opcode=opcode
            )
            if not allowed:
                full = f"{module}.{name}"
                tag = " (known dangerous)" if risk == "dangerous" else ""
                self.errors.append(f"{label}: global {full} at offset {pos} ({opcode}) is not in the allowlist{tag}")
        return _Global(canonical_global(module, name), allowed)

    def one_pickle(self, reader: _BoundedReader, label: str) -> tuple[bool, int | None]:
        """Walk one pickle to its STOP.

        Returns (reached STOP, the pickle's value if it is a lone integer constant).
        """
        stack: list[Any] = []
        memo: dict[int, Any] = {}
        ints: list[int] = []
        count = 0
        start = reader.pos
        pos: int | None = 0

        def fail(msg: str) -> None:
            self.errors.append(f"{label}: offset {pos}: {msg}")

        def pop() -> Any:
            if not stack:
                fail("stack underflow (the unpickler would fail here)")
                return _UNKNOWN
            if stack[-1] is _MARK:
                fail("opcode pops past a MARK (the unpickler would fail here)")
            return stack.pop()

        frame_end: int | None = None  # where the current FRAME ends (protocol 4+)
        try:
            # genops only calls read/readline/tell: the bounded reader is a duck-typed IO[bytes]
            for op, arg, abs_pos in pickletools.genops(cast(IO[bytes], reader)):
                pos = abs_pos - start if abs_pos is not None else None
                count += 1
                name = op.name
                # pickletools ignores framing; CPython's unpickler does not, and an opcode that straddles a
                # frame boundary is read differently by different loaders (cpython#154848): never pass one.
                if frame_end is not None and pos is not None:
                    if pos > frame_end:
                        fail(f"an opcode straddles the end of the FRAME ending at offset {frame_end}")
                    if pos >= frame_end:
                        frame_end = None
                if name == "FRAME":
                    if frame_end is not None:
                        fail("FRAME opens before the current frame ends (the unpickler would fail here)")
                    frame_end = (pos or 0) + 9 + cast(int, arg)  # FRAME: an 8-byte length, an int
                skipped, reader.skipped = reader.skipped, False
                if name in _INT_OPS and isinstance(arg, int):
                    ints.append(arg)
                if name == "GLOBAL":
                    module, _, attr = str(arg).partition(" ")
                    stack.append(self.add_global(module, attr, label, pos, name))
                elif name == "INST":
                    module, _, attr = str(arg).partition(" ")
                    self.add_global(module, attr, label, pos, name)
                    self._generic(op, stack, pop, fail)
                elif name == "STACK_GLOBAL":
                    attr, module = pop(), pop()
                    if isinstance(module, str) and isinstance(attr, str):
                        stack.append(self.add_global(module, attr, label, pos, name))
                    else:
                        fail(
                            "STACK_GLOBAL with a module/name that is not a tracked string "
                            "constant; cannot tell what it imports"
                        )
                        stack.append(_UNKNOWN)
                elif name in ("EXT1", "EXT2", "EXT4"):
                    fail(
                        f"{name} (copyreg extension code {arg}) imports whatever the loading process registered; "
                        "not in the allowlist"
                    )
                    stack.append(_UNKNOWN)
                elif name in _STRING_OPS:
                    value = _UNKNOWN if skipped else arg
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    stack.append(value if isinstance(value, str) and len(value) <= MAX_TRACKED_STR else _UNKNOWN)
                elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                    if not stack or stack[-1] is _MARK:
                        fail("memo store with nothing on the stack")
                    key = len(memo) if name == "MEMOIZE" else cast(int, arg)  # PUT args are ints
                    memo[key] = stack[-1] if stack and stack[-1] is not _MARK else _UNKNOWN
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    if arg not in memo:
                        fail(f"{name} of memo key {arg} that was never stored (the unpickler would fail here)")
                    stack.append(memo.get(cast(int, arg), _UNKNOWN))
                elif name == "DUP":
                    stack.append(stack[-1] if stack else pop())
                elif name == "MARK":
                    stack.append(_MARK)
                elif name == "POP" and stack and stack[-1] is _MARK:
                    stack.pop()
                else:
                    if name in _CALLS or name == "OBJ":
                        self._check_call(name, stack, fail)
                    self._generic(op, stack, pop, fail)
        except Exception as e:  # noqa: BLE001 -- genops raises ValueError and friends on malformed input
            self.errors.append(f"{label}: malformed or truncated pickle near offset {pos}: {e}")
            return False, None
        return True, (ints[0] if count <= 3 and len(ints) == 1 else None)

    @staticmethod
    def _check_call(name: str, stack: list[Any], fail: Any) -> None:
        """The callable of REDUCE/NEWOBJ/NEWOBJ_EX/OBJ must be an allowlisted global."""
        if name == "OBJ":
            if _MARK not in stack:
                return  # _generic reports the missing MARK
            i = len(stack) - 1 - stack[::-1].index(_MARK)
            target = stack[i + 1] if i + 1 < len(stack) else _UNKNOWN
        else:
            depth = -_CALLS[name]
            target = stack[-depth] if len(stack) >= depth else _UNKNOWN
        if isinstance(target, _Global):
            return  # an import outside the allowlist was already reported where it was imported
        fail(f"{name} calls a value that is not an allowlisted global (the scan cannot tell what it runs)")

    @staticmethod
    def _generic(op: Any, stack: list[Any], pop: Any, fail: Any) -> None:
        """Apply an opcode's documented stack effect; results are opaque (_UNKNOWN)."""
        before = op.stack_before
        if pickletools.markobject in before:
            if _MARK not in stack:
                fail(f"{op.name} needs a MARK but none is on the stack")
            else:
                while stack.pop() is not _MARK:
                    pass
            for _ in range(before.index(pickletools.markobject)):
                pop()
        else:
            for _ in before:
                pop()
        stack.extend(_UNKNOWN for _ in op.stack_after)


def _scan_stream(scan: _Scan, reader: _BoundedReader, label: str, legacy_ok: bool) -> list[str]:
    """Scan pickles back to back until EOF; return their labels.

    The first pickle is labelled ``label``, the k-th after it ``label#k`` (or
    ``<raw#k>`` for label ``<raw>``).
    """
    labels: list[str] = []
    legacy = False
    while not reader.at_eof():
        k = len(labels)
        this = label if k == 0 else (f"<raw#{k}>" if label == "<raw>" else f"{label}#{k}")
        labels.append(this)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # genops decoding STRING escapes of hostile files
            complete, value = scan.one_pickle(reader, this)
        if not complete:
            return labels  # cannot resynchronise after a malformed pickle
        if k == 0 and legacy_ok and value == TORCH_LEGACY_MAGIC:
            legacy = True
        if legacy and len(labels) == TORCH_LEGACY_PICKLES:
            return labels  # the rest is raw storage bytes torch reads directly, never unpickled
    if legacy:
        scan.errors.append(f"{label}: legacy torch file ends after {len(labels)} of {TORCH_LEGACY_PICKLES} pickles")
    if not labels:
        scan.errors.append(f"{label}: empty, no pickle found")
    return labels


def compression_of(head: bytes) -> str | None:
    """The compressor joblib (or gzip/xz tools) used, from the stream's magic bytes."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"ZF"):
        return "zlib-zf"  # joblib < 0.10 zlib files: b"ZF" + 16-byte hex length + zlib stream
    if len(head) >= 2 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:
        return "zlib"
    if head.startswith(b"\x5d\x00\x00"):
        return "lzma"
    return None


class _ZlibStream:
    """File-like zlib decompressor (the stdlib has no zlib file object; gzip/bz2/lzma do)."""

    def __init__(self, f: BinaryIO):
        self.f, self.d, self.buf = f, zlib.decompressobj(), b""

    def _fill(self, n: int) -> None:
        while len(self.buf) < n and not self.d.eof:
            chunk = self.f.read(1 << 16)
            if not chunk:
                break
            self.buf += self.d.decompress(chunk, 1 << 22)
            while self.d.unconsumed_tail and len(self.buf) < n:
                self.buf += self.d.decompress(self.d.unconsumed_tail, 1 << 22)

    def read(self, n: int = -1) -> bytes:
        n = 1 << 22 if n is None or n < 0 else n
        self._fill(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def readline(self, limit: int = -1) -> bytes:
        cap = MAX_LINE if limit is None or limit < 0 else limit
        while b"\n" not in self.buf and len(self.buf) < cap and not self.d.eof:
            before = len(self.buf)
            self._fill(len(self.buf) + (1 << 16))
            if len(self.buf) == before:
                break
        i = self.buf.find(b"\n")
        n = min(cap, i + 1 if i >= 0 else len(self.buf))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def peek(self, n: int = 1) -> bytes:
        self._fill(n)
        return self.buf[:n]


def _open_compressed(f: BinaryIO, kind: str) -> Any:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=f)
    if kind == "bz2":
        return bz2.BZ2File(f)
    if kind in ("xz", "lzma"):
        return lzma.LZMAFile(f)
    if kind == "zlib-zf":
        f.read(18)
        return _ZlibStream(f)
    return _ZlibStream(f)


def parse_npy_header(f: IO[bytes]) -> tuple[dict[str, Any] | None, str | None]:
    """Read a ``.npy`` header (magic, version, dict literal); returns (header, error)."""
    head = f.read(8)
    if not head.startswith(NPY_MAGIC) or len(head) < 8:
        return None, "not an .npy file (no \\x93NUMPY magic)"
    major = head[6]
    if major == 1:
        raw = f.read(2)
        hlen = int.from_bytes(raw, "little") if len(raw) == 2 else -1
    elif major in (2, 3):
        raw = f.read(4)
        hlen = int.from_bytes(raw, "little") if len(raw) == 4 else -1
    else:
        return None, f"unsupported .npy format version {major}"
    if hlen < 0 or hlen > MAX_NPY_HEADER:
        return None, "truncated or oversized .npy header"
    text = f.read(hlen)
    if len(text) != hlen:
        return None, "truncated .npy header"
    try:
        # numpy itself parses this dict with ast.literal_eval: a literal, never code.
        header = ast.literal_eval(text.decode("utf-8" if major == 3 else "latin-1"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as e:
        return None, f".npy header is not a Python literal: {e}"
    if not isinstance(header, dict) or "descr" not in header:
        return None, ".npy header has no 'descr'"
    return header, None


def npy_has_objects(descr: Any) -> bool:
    """True when a numpy dtype description contains the object type 'O' (stored as a pickle)."""
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, (list, tuple)):
        return any(npy_has_objects(part) for part in descr)
    return False


def _scan_npy(scan: _Scan, f: IO[bytes], size: int, label: str) -> list[str]:
    start = f.tell() if hasattr(f, "tell") else 0
    header, err = parse_npy_header(f)
    if header is None:
        scan.errors.append(f"{label}: {err}")
        return []
    if not npy_has_objects(header["descr"]):
        return []  # numeric payload: raw array bytes that numpy.load reads without unpickling
    used = (f.tell() - start) if hasattr(f, "tell") else 0
    return _scan_stream(scan, _BoundedReader(f, max(size - used, 0)), label, legacy_ok=False)


def scan_pickle_file(path: str | os.PathLike) -> PickleReport:
    """Scan a pickle-bearing file (raw, legacy/zip torch, npy/npz, joblib); raises OSError only if unreadable."""
    scan = _Scan()
    container: Container
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(8)
        f.seek(0)
        kind = compression_of(head)
        pickles: list[str] = []
        container = "raw"
        try:
            if head.startswith(ZIP_MAGIC):
                container = "zip"
                pickles = _scan_zip(scan, f)
            elif head.startswith(NPY_MAGIC):
                container = "npy"
                pickles = _scan_npy(scan, f, size, "<npy>")
            elif kind is not None and not _plausible_raw_pickle(head):
                container = "compressed"
                pickles = _scan_compressed(scan, f, kind)
            else:
                pickles = _scan_stream(scan, _BoundedReader(f, size), "<raw>", legacy_ok=True)
                if len(pickles) > 1:  # "<raw>", "<raw#1>", ... -> "<raw#0>", "<raw#1>", ...
                    pickles[0] = "<raw#0>"
                    for g in scan.globals.values():
                        g.member = "<raw#0>" if g.member == "<raw>" else g.member
                    scan.errors = [e.replace("<raw>:", "<raw#0>:", 1) for e in scan.errors]
        except Exception as e:  # noqa: BLE001 -- hostile containers may break their parsers anywhere: fail closed
            scan.errors.append(f"{container}: cannot be parsed ({type(e).__name__}: {e}); not scanned")
    found = list(scan.globals.values())
    dangerous = sorted({f"{g.module}.{g.name}" for g in found if g.risk == "dangerous"})
    not_allowed = sorted({f"{g.module}.{g.name}" for g in found if g.risk != "safe"})
    return PickleReport(
        path=str(path),
        container=container,
        pickles=pickles,
        globals=found,
        dangerous=dangerous,
        not_allowed=not_allowed,
        errors=scan.errors,
        ok=not not_allowed and not scan.errors,
    )


def _plausible_raw_pickle(head: bytes) -> bool:
    """A protocol-2+ pickle starts with PROTO; only those are preferred over a compressor's magic."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


def _scan_compressed(scan: _Scan, f: BinaryIO, kind: str) -> list[str]:
    if kind == "lz4":
        scan.errors.append(
            "<compressed>: lz4-compressed (joblib) file: the standard library cannot decompress it, "
            "so it was not scanned"
        )
        return []
    label = f"<{kind}>"
    try:
        stream = _open_compressed(f, kind)
        return _scan_stream(scan, _BoundedReader(stream, _UNSIZED), label, legacy_ok=False)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as e:
        scan.errors.append(f"{label}: cannot decompress: {e}")
        return []


_TORCH_STORAGE_MEMBER = re.compile(
    r"(^|/)(\.data/|data/)[^/]*$"
    r"|(^|/)(byteorder|version|\.format_version|\.storage_alignment)$"
)
MemberKind = Literal["pickle", "npy", "encrypted"]


def looks_like_pickle(head: bytes) -> bool:
    """Would ``pickle.load`` act on these bytes? PROTO 0..5, or a headerless (protocol 0/1) pickle that walks
    to STOP or imports a dotted identifier before it breaks (the unpickler runs everything before the break).

    Text that merely starts with opcode letters (``import os`` reads as INST "mport os") passes neither test.
    """
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # genops decoding STRING escapes
        return _walk_prefix(head)


def _walk_prefix(head: bytes) -> bool:
    count, last = 0, 0
    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(head)):
            count, last = count + 1, pos or 0
            if op.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                if _IDENT.fullmatch(module) and _IDENT.fullmatch(name):
                    return True
            if op.name == "STOP":
                return count >= 2
    except Exception:  # noqa: BLE001 -- genops raises ValueError and friends where the bytes stop being a pickle
        # a long pickle cut by the prefix: many valid opcodes right up to the cut
        return len(head) >= SNIFF_PREFIX and count >= 16 and last > len(head) // 2
    return False


SNIFF_PREFIX = 1 << 16
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def zip_members(zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, MemberKind]]:
    """The members of an archive that a loader could unpickle, recognised by name or content.

    ``*.pkl``/``*.pickle`` by name (torch reads ``<prefix>/data.pkl``), ``*.npy`` as arrays, any other member
    whose first bytes are a pickle (custom loaders read e.g. ``data.txt``), and encrypted members, whose
    content nobody can check. Raw tensor storages of a torch archive (``data/<n>``) are never sniffed:
    their bytes are data that torch copies without unpickling, and may start like a pickle by chance.
    """
    out: list[tuple[zipfile.ZipInfo, MemberKind]] = []
    torch_like = any(i.filename.lower().endswith(".pkl") for i in zf.infolist())
    for info in zf.infolist():
        lower = info.filename.lower()
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            out.append((info, "encrypted"))
        elif lower.endswith((".pkl", ".pickle")):
            out.append((info, "pickle"))
        elif lower.endswith(".npy"):
            out.append((info, "npy"))
        elif torch_like and _TORCH_STORAGE_MEMBER.search(info.filename):
            continue
        else:
            try:
                with zf.open(info) as member:
                    head = member.read(SNIFF_PREFIX)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, zlib.error, ValueError):
                out.append((info, "pickle"))  # unreadable: the scan reports why, never passes it
                continue
            if looks_like_pickle(head) or head.startswith(NPY_MAGIC):
                out.append((info, "npy" if head.startswith(NPY_MAGIC) else "pickle"))
    return out


def _scan_zip(scan: _Scan, f: BinaryIO) -> list[str]:
    """Scan every pickle and object-``.npy`` member in place (streamed, never extracted)."""
    pickles: list[str] = []
    members: list[tuple[zipfile.ZipInfo, MemberKind]] = []
    try:
        with zipfile.ZipFile(f) as zf:
            members = zip_members(zf)
            for info, kind in members:
                if kind == "encrypted":
                    scan.errors.append(f"{info.filename}: encrypted zip member: its content cannot be scanned")
                    continue
                try:
                    with zf.open(info) as member:
                        if kind == "npy":
                            pickles.extend(_scan_npy(scan, member, info.file_size, info.filename))
                        else:
                            reader = _BoundedReader(member, info.file_size)
                            pickles.extend(_scan_stream(scan, reader, info.filename, legacy_ok=False))
                except (
                    zipfile.BadZipFile,
                    RuntimeError,
                    NotImplementedError,
                    OSError,
                    EOFError,
                    zlib.error,
                    ValueError,
                ) as e:
                    scan.errors.append(f"{info.filename}: cannot read zip member: {e}")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        scan.errors.append(f"not a readable zip archive: {e}")
    if not members and not scan.errors:
        scan.errors.append("zip archive has no pickle or .npy member, so this is not a checkpoint assay can vouch for")
    return pickles
