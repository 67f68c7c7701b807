"""Report what a pickle-format weight file would import, without ever unpickling it.

Unpickling runs code: every callable a pickle uses must first be imported through
GLOBAL, INST or STACK_GLOBAL (or a copyreg extension code, EXT1/2/4). So listing those
imports and classifying them tells whether loading the file can do more than rebuild
tensors. Opcodes are walked with ``pickletools.genops`` only; nothing is ever loaded.

Containers, detected the way ``torch.load`` does (by the first four bytes, so a raw
pickle with a zip appended is scanned as the raw pickle torch would execute):

* zip (torch >= 1.6 checkpoints, TorchScript): every member ending in ``.pkl`` is
  scanned straight from the archive, duplicated member names included;
* raw: a plain pickle, or several pickles back to back, scanned until EOF. The legacy
  torch format (first pickle = torch's magic number) is five pickles followed by raw
  storage bytes that torch reads directly, so scanning stops after the fifth pickle.

STACK_GLOBAL (protocol 4+) takes module and name from the stack, so a small stack and
memo model tracks string constants through MEMOIZE/PUT/GET. Anything the model cannot
resolve, and any pickle that would fail to load (stack underflow, missing MARK,
truncation), is an error: the report never passes what it could not read.

Classification (deny beats allow; see SAFE_* and DANGEROUS_* below):

* "safe": what torch state dicts and numpy arrays reference: tensor/parameter rebuild
  functions, storage and legacy tensor classes, dtypes/layouts/devices, OrderedDict,
  numpy's ``_reconstruct``/``ndarray``/``dtype``/``scalar``, inert builtin containers.
  This mirrors torch's own ``weights_only`` allowlist (``_get_allowed_globals``).
* "dangerous": anything that can run commands or code, touch files or the network,
  load another pickle, or serve as a gadget to reach those (getattr, attrgetter,
  methodcaller, functools.partial, code/function constructors, any dunder attribute).
* "unknown": everything else, reported for review but not failing the scan (user
  classes such as ``argparse.Namespace`` are common in training checkpoints).
"""

from __future__ import annotations

import os
import pickletools
import re
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
ZIP_MAGIC = b"PK\x03\x04"  # torch.serialization._is_zipfile checks exactly this prefix
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
TORCH_LEGACY_PICKLES = 5  # magic, protocol version, sys info, data, storage keys
SKIP_OVER = 16 << 20  # opcode arguments larger than this are skipped, not read into memory
MAX_LINE = 256 << 20  # longest protocol-0 text line we will read

Risk = Literal["safe", "unknown", "dangerous"]

# ----------------------------------------------------------------------------- lists

_TORCH_REBUILD = {
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
    "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
    "_rebuild_nested_tensor", "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass",
    "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor",
}
SAFE_EXACT = frozenset({
    *(f"torch._utils.{f}" for f in _TORCH_REBUILD),
    "torch._tensor._rebuild_from_type_v2", "torch.serialization._get_layout",
    "torch.Size", "torch.Tensor", "torch.device", "torch.nn.parameter.Parameter",
    "torch.storage.UntypedStorage", "torch.storage.TypedStorage",
    "torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch.sparse_csc",
    "torch.sparse_bsr", "torch.sparse_bsc", "torch._mkldnn", "torch.jagged",
    "torch.contiguous_format", "torch.channels_last", "torch.channels_last_3d", "torch.preserve_format",
    "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
    "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
    "collections.OrderedDict", "collections.Counter", "collections.defaultdict", "collections.deque",
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "numpy.ndarray", "numpy.dtype",
    "_codecs.encode",  # protocol-2 pickles encode bytes as _codecs.encode(str, "latin1")
    *(f"builtins.{n}" for n in ("set", "frozenset", "slice", "complex", "bytearray", "range",
                                "dict", "list", "tuple", "int", "float", "bool", "str", "bytes")),
})
SAFE_PATTERNS = (
    re.compile(r"torch\.(cuda\.)?[A-Za-z0-9]+Storage"),  # FloatStorage, cuda.HalfStorage, ...
    re.compile(r"torch\.(cuda\.)?(sparse\.)?[A-Za-z]+Tensor"),  # legacy FloatTensor, ...
    re.compile(r"torch\.(u?int\d+|float\d+(_[a-z0-9]+)*|bfloat16|complex\d+|bool|half|double|float|long|"
               r"int|short|cfloat|cdouble|chalf|q(u)?int\d+(x\d+)?|bits\d+(x\d+)?)"),  # dtypes
    re.compile(r"numpy\.dtypes\.[A-Za-z0-9]+DType"),
)

# A global is dangerous if its "module.name" path equals one of these or starts with one + ".".
DANGEROUS_PREFIXES = frozenset({
    # processes, code execution, interpreter internals
    "os", "posix", "nt", "subprocess", "_posixsubprocess", "pty", "sys", "runpy", "importlib",
    "code", "codeop", "ctypes", "_ctypes", "signal", "multiprocessing", "asyncio",
    "pdb", "bdb", "timeit", "profile", "cProfile", "trace", "webbrowser", "shutil",
    # nested deserialisers (they would load a second, unscanned payload)
    "pickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib",
    # network
    "socket", "_socket", "ssl", "requests", "urllib", "urllib3", "http", "httpx", "aiohttp",
    "ftplib", "smtplib", "telnetlib", "xmlrpc",
    # builtins that run code, reach attributes or open files
    *(f"builtins.{n}" for n in ("eval", "exec", "compile", "open", "getattr", "setattr",
                                "delattr", "__import__", "globals", "locals", "vars",
                                "input", "breakpoint", "help", "exit", "quit")),
    "io.open", "io.FileIO", "_io.open", "_io.FileIO", "io.open_code", "_io.open_code",
    # call-anything gadgets
    "operator.attrgetter", "operator.methodcaller", "_operator.attrgetter", "_operator.methodcaller",
    "functools.partial", "functools.reduce", "_functools.partial", "_functools.reduce",
    "types.FunctionType", "types.LambdaType", "types.CodeType", "types.MethodType", "types.ModuleType",
    # torch entry points that load code or another pickle
    "torch.load", "torch.serialization.load", "torch.storage._load_from_bytes",
    "torch.jit", "torch.hub", "torch._C", "torch.package", "torch.ops", "torch._ops",
    "torch.classes", "torch._classes", "torch.utils.cpp_extension", "torch.distributed",
    "torch._dynamo", "torch._inductor", "torch.compile",
    # numpy functions that load pickles or run code
    "numpy.load", "numpy.lib.npyio.load", "numpy.testing._private.utils.runstring",
    "numpy.f2py", "numpy.distutils",
})

_DUNDER = re.compile(r"^__\w+__$")


def classify_global(module: str, name: str) -> Risk:
    """Classify an import; Python-2 names are mapped the way Unpickler(fix_imports=True) does."""
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    module = IMPORT_MAPPING.get(module, module)
    full = f"{module}.{name}"
    if any(_DUNDER.match(part) for part in name.split(".")):
        return "dangerous"  # e.g. "OrderedDict.__init__.__globals__" walks into anything
    parts = full.split(".")
    if any(".".join(parts[:i]) in DANGEROUS_PREFIXES for i in range(1, len(parts) + 1)):
        return "dangerous"
    if full in SAFE_EXACT or any(p.fullmatch(full) for p in SAFE_PATTERNS):
        return "safe"
    return "unknown"


# ----------------------------------------------------------------------------- models


class PickleGlobal(BaseModel):
    module: str
    name: str
    risk: Risk
    member: str | None  # zip member (or "<raw>"/"<raw#k>" label) the import came from


class PickleReport(BaseModel):
    path: str
    container: Literal["zip", "raw"]
    pickles: list[str]
    globals: list[PickleGlobal]
    dangerous: list[str]
    errors: list[str]
    ok: bool


def is_pickle_path(path: str) -> bool:
    """True for the file suffixes that usually hold pickles (torch, numpy, sklearn weights)."""
    return str(path).lower().endswith(PICKLE_SUFFIXES)


# ----------------------------------------------------------------------------- reading


class _Skipped(bytes):
    """Stands in for a huge opcode argument that was skipped rather than read."""

    def __new__(cls, size: int) -> "_Skipped":
        obj = super().__new__(cls)
        obj.size = size
        return obj

    def __len__(self) -> int:
        return self.size


class _BoundedReader:
    """File view for genops: never reads past ``size``, skips huge arguments, counts position."""

    def __init__(self, f: BinaryIO, size: int):
        self.f, self.size, self.pos, self.skipped = f, size, 0, False

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def tell(self) -> int:
        return self.pos

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


# ----------------------------------------------------------------------------- scanning

_MARK = object()
_UNKNOWN = object()
_STRING_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
               "SHORT_BINUNICODE", "BINUNICODE8"}
_INT_OPS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"}


class _Scan:
    """Accumulates globals and errors over all pickles of one file."""

    def __init__(self) -> None:
        self.globals: dict[tuple[str, str, str], PickleGlobal] = {}
        self.errors: list[str] = []

    def add_global(self, module: str, name: str, label: str) -> None:
        key = (module, name, label)
        if key not in self.globals:
            self.globals[key] = PickleGlobal(module=module, name=name, member=label,
                                             risk=classify_global(module, name))

    def one_pickle(self, reader: _BoundedReader, label: str) -> tuple[bool, int | None]:
        """Walk one pickle to its STOP.

        Returns (reached STOP, the pickle's value if it is a lone integer constant).
        """
        stack: list[Any] = []
        memo: dict[int, Any] = {}
        ints: list[int] = []
        count = 0
        pos: int | None = reader.pos

        def fail(msg: str) -> None:
            self.errors.append(f"{label}: byte {pos}: {msg}")

        def pop() -> Any:
            if not stack:
                fail("stack underflow (the unpickler would fail here)")
                return _UNKNOWN
            if stack[-1] is _MARK:
                fail("opcode pops past a MARK (the unpickler would fail here)")
            return stack.pop()

        try:
            for op, arg, pos in pickletools.genops(reader):
                count += 1
                name = op.name
                skipped, reader.skipped = reader.skipped, False
                if name in _INT_OPS and isinstance(arg, int):
                    ints.append(arg)
                if name in ("GLOBAL", "INST"):
                    module, _, attr = str(arg).partition(" ")
                    self.add_global(module, attr, label)
                elif name == "STACK_GLOBAL":
                    attr, module = pop(), pop()
                    if isinstance(module, str) and isinstance(attr, str):
                        self.add_global(module, attr, label)
                    else:
                        fail("STACK_GLOBAL with a module/name that is not a tracked string "
                             "constant; cannot tell what it imports")
                    stack.append(_UNKNOWN)
                    continue
                elif name in ("EXT1", "EXT2", "EXT4"):
                    self.add_global("copyreg._extension_registry", str(arg), label)
                if name in _STRING_OPS:
                    value = _UNKNOWN if skipped else arg
                    stack.append(value.decode("latin-1") if isinstance(value, bytes) else value)
                elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                    if not stack or stack[-1] is _MARK:
                        fail("memo store with nothing on the stack")
                    key = len(memo) if name == "MEMOIZE" else arg
                    memo[key] = stack[-1] if stack and stack[-1] is not _MARK else _UNKNOWN
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    stack.append(memo.get(arg, _UNKNOWN))
                elif name == "DUP":
                    stack.append(stack[-1] if stack else pop())
                elif name == "MARK":
                    stack.append(_MARK)
                elif name == "POP" and stack and stack[-1] is _MARK:
                    stack.pop()
                else:
                    self._generic(op, stack, pop, fail)
        except Exception as e:  # genops raises ValueError and friends on malformed input
            self.errors.append(f"{label}: malformed or truncated pickle near byte {pos}: {e}")
            return False, None
        return True, (ints[0] if count <= 3 and len(ints) == 1 else None)

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
    while reader.remaining > 0:
        k = len(labels)
        this = label if k == 0 else (f"<raw#{k}>" if label == "<raw>" else f"{label}#{k}")
        labels.append(this)
        complete, value = scan.one_pickle(reader, this)
        if not complete:
            return labels  # cannot resynchronise after a malformed pickle
        if k == 0 and legacy_ok and value == TORCH_LEGACY_MAGIC:
            legacy = True
        if legacy and len(labels) == TORCH_LEGACY_PICKLES:
            return labels  # the rest is raw storage bytes torch reads directly, never unpickled
    if legacy:
        scan.errors.append(f"{label}: legacy torch file ends after {len(labels)} of "
                           f"{TORCH_LEGACY_PICKLES} pickles")
    if not labels:
        scan.errors.append(f"{label}: empty, no pickle found")
    return labels


def scan_pickle_file(path: str | os.PathLike) -> PickleReport:
    """Scan a pickle, legacy torch or zip torch file; raises OSError only if it cannot be read."""
    scan = _Scan()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        container: Literal["zip", "raw"] = "zip" if f.read(4) == ZIP_MAGIC else "raw"
        f.seek(0)
        if container == "zip":
            pickles = _scan_zip(scan, f)
        else:
            pickles = _scan_stream(scan, _BoundedReader(f, size), "<raw>", legacy_ok=True)
            if len(pickles) > 1:  # "<raw>", "<raw#1>", ... -> "<raw#0>", "<raw#1>", ...
                pickles[0] = "<raw#0>"
                for g in scan.globals.values():
                    g.member = "<raw#0>" if g.member == "<raw>" else g.member
                scan.errors = [e.replace("<raw>:", "<raw#0>:", 1) for e in scan.errors]
    found = list(scan.globals.values())
    dangerous = sorted({f"{g.module}.{g.name}" for g in found if g.risk == "dangerous"})
    return PickleReport(path=str(path), container=container, pickles=pickles, globals=found,
                        dangerous=dangerous, errors=scan.errors, ok=not dangerous and not scan.errors)


def _scan_zip(scan: _Scan, f: BinaryIO) -> list[str]:
    """Scan every ``*.pkl`` member in place (streamed, never extracted)."""
    pickles: list[str] = []
    try:
        with zipfile.ZipFile(f) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".pkl"):
                    continue
                try:
                    with zf.open(info) as member:
                        reader = _BoundedReader(member, info.file_size)
                        labels = _scan_stream(scan, reader, info.filename, legacy_ok=False)
                        pickles.extend(labels)
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as e:
                    scan.errors.append(f"{info.filename}: cannot read zip member: {e}")
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        scan.errors.append(f"not a readable zip archive: {e}")
    if not pickles and not scan.errors:
        scan.errors.append("zip archive has no .pkl member, so this is not a torch checkpoint assay can vouch for")
    return pickles
