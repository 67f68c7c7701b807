"""The probe of :mod:`assay.verify.loaded`: load one model folder with transformers and report what the load did.

It runs in its own interpreter (``python -I load_probe.py ARGS.json``), started by :func:`assay.verify.loaded.
audit_loaded` with ``HF_HUB_OFFLINE=1``, an empty ``HF_HOME``, a private ``HF_MODULES_CACHE`` and ``HF_ENDPOINT``
pointed at a closed port on 127.0.0.1.  assay never imports it: the model's code (remote code included, when the
caller's gate allowed it) runs here, never in assay's own process.  It imports only the standard library at module
level, so that its audit hook is installed before torch, transformers or the model's code run.

What it records, with :func:`sys.addaudithook` (PEP 578):

* every file opened (``open`` events: path and read/write mode), with the innermost frame of the release's own code
  on the stack when there is one (so a read can be told apart from the library's own);
* every network attempt (``socket.connect``, ``socket.getaddrinfo``, ``socket.gethostbyname``, ``urllib.Request``,
  ``http.client.connect``, …), processes spawned and unpickled globals (``pickle.find_class``);
* every call into huggingface_hub's download functions (``hf_hub_download``, ``snapshot_download``, cache look-ups
  of a repository, and every HTTP request its session makes): with ``HF_HUB_OFFLINE=1`` huggingface_hub refuses
  before it opens any socket, so these calls would otherwise leave no trace.

Then it hashes every tensor of the loaded ``state_dict`` (sha256 of its raw little-endian bytes, contiguous, in its
loaded dtype) and maps each checkpoint key to the name the model holds it under with transformers' own renaming
(``rename_source_key`` with the model's weight conversions), reverting converted tensors (fused / split) with
``revert_weight_conversion`` so they compare with the checkpoint's.  It compares nothing itself: the caller holds
the checkpoint's hashes, computed in assay's own process.

The result is one JSON document written to the ``out`` path of the arguments (stdout belongs to the model's code).
A probe is evidence of what honest code does on load; code written to deceive this probe could forge its output.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
import time
import traceback
from typing import Any

# Events that are network attempts: each one is a finding whatever the code that raised it.
NET_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sendto",
        "socket.sendmsg",
        "urllib.Request",
        "http.client.connect",
        "ftplib.connect",
        "smtplib.connect",
        "poplib.connect",
        "imaplib.open",
        "telnetlib.Telnet.open",
    }
)
PROC_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn"}
)
MAX_EVENTS = 5000  # per kind: a runaway loop of opens must not exhaust memory
# Suffixes of weights files: read from the interpreter's own folders, they are still listed.
WEIGHT_SUFFIXES = frozenset(
    {
        ".safetensors",
        ".bin",
        ".pt",
        ".pth",
        ".ckpt",
        ".pkl",
        ".pickle",
        ".npy",
        ".npz",
        ".h5",
        ".hdf5",
        ".msgpack",
        ".gguf",
        ".onnx",
        ".joblib",
    }
)


class Recorder:
    """The audit hook's state.  The hook does as little as it can: it stores raw records, classified afterwards."""

    def __init__(self, code_dirs: list[str], library_dirs: list[str]) -> None:
        self.code_dirs = tuple(os.path.join(os.path.realpath(d), "") for d in code_dirs if d)
        # the interpreter's and installed packages' own files: counted, not listed (a weights file there is listed)
        self.library_dirs = tuple(os.path.join(d, "") for d in library_dirs)
        self.own = {os.path.realpath(__file__)}
        self.library_reads = 0
        self.opens: dict[tuple[str, str], dict[str, Any]] = {}
        self.network: list[dict[str, Any]] = []
        self.processes: list[dict[str, Any]] = []
        self.unpickled: dict[str, dict[str, Any]] = {}
        self.hub_calls: list[dict[str, Any]] = []
        self.wrapped: dict[int, Any] = {}  # id(original hub function) -> its spy
        self.active = True
        self._busy = False  # the hook's own calls raise events too (sys._getframe): never re-enter

    def origin(self) -> str | None:
        """``file:line`` of the innermost frame on the stack that is the release's own code (or None)."""
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_code.co_filename
            if name.startswith(self.code_dirs):
                return f"{name}:{frame.f_lineno}"
            frame = frame.f_back  # type: ignore[assignment]
        return None

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or self._busy:
            return
        if event == "open":
            self._busy = True
            try:
                self._open(args)
            finally:
                self._busy = False
        elif event in NET_EVENTS or event in PROC_EVENTS or event == "pickle.find_class":
            self._busy = True
            try:
                self._other(event, args)
            finally:
                self._busy = False

    def file_read(self, path: Any, via: str) -> None:
        """A file read by native code (safetensors' Rust reader, torch's zip reader): no ``open`` event shows it."""
        if isinstance(path, os.PathLike):
            path = os.fspath(path)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return
        was, self._busy = self._busy, True
        try:
            key = (os.path.abspath(path), "r")
            if key not in self.opens and len(self.opens) < MAX_EVENTS:
                self.opens[key] = {"path": key[0], "mode": "r", "origin": self.origin(), "via": via}
        finally:
            self._busy = was

    def _open(self, args: tuple[Any, ...]) -> None:
        path = args[0] if args else None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):  # a file descriptor, or None
            return
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        if isinstance(mode, str):
            writes = any(c in mode for c in "wax+")
        else:
            writes = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        key = (os.path.abspath(path), "w" if writes else "r")
        if key in self.opens:
            return
        if not writes and (
            key[0] in self.own
            or (
                key[0].startswith(self.library_dirs)
                and not key[0].startswith(self.code_dirs)
                and os.path.splitext(key[0])[1] not in WEIGHT_SUFFIXES
            )
        ):
            self.library_reads += 1
            return
        if len(self.opens) >= MAX_EVENTS:
            return
        self.opens[key] = {"path": key[0], "mode": key[1], "origin": self.origin()}

    def _other(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "pickle.find_class":
            name = ".".join(str(a) for a in args[:2])
            if name not in self.unpickled and len(self.unpickled) < MAX_EVENTS:
                self.unpickled[name] = {"global": name, "origin": self.origin()}
            return
        target = _describe(event, args)
        rec = {"event": event, "target": target, "origin": self.origin()}
        bucket = self.processes if event in PROC_EVENTS else self.network
        if len(bucket) < MAX_EVENTS and rec not in bucket:
            bucket.append(rec)


def _describe(event: str, args: tuple[Any, ...]) -> str:
    """A short, JSON-safe description of what an event reached for."""
    try:
        if event == "socket.connect" or event == "socket.sendto":
            return repr(args[1])
        if event == "socket.getaddrinfo":
            return f"{args[0]}:{args[1]}"
        if event == "urllib.Request":
            return f"{args[3] or 'GET'} {args[0]}"
        if event == "http.client.connect":
            return f"{args[1]}:{args[2]}"
        if event in PROC_EVENTS:
            return repr(args[1] if event == "subprocess.Popen" and len(args) > 1 else args[0])[:500]
        return repr(args[0])[:500]
    except (IndexError, TypeError):
        return repr(args)[:500]


# --------------------------------------------------------------------------------------------- huggingface_hub
def _hub_record(rec: Recorder, func: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    repo = kwargs.get("repo_id", args[0] if args else None)
    if func == "try_to_load_from_cache" and isinstance(repo, str) and os.path.isdir(repo):
        return  # a look-up of a local folder is no download
    call = {
        "function": func,
        "repo_id": None if repo is None else str(repo),
        "filename": kwargs.get("filename", args[1] if len(args) > 1 and func != "snapshot_download" else None),
        "revision": kwargs.get("revision"),
        "origin": None,
    }
    was, rec._busy = rec._busy, True
    try:
        call["origin"] = rec.origin()
    finally:
        rec._busy = was
    if len(rec.hub_calls) < MAX_EVENTS:
        rec.hub_calls.append({k: (v if v is None or isinstance(v, str) else str(v)) for k, v in call.items()})


def install_spies(rec: Recorder) -> None:
    """Record every call into huggingface_hub's download functions and every request its HTTP session makes, and
    every file that safetensors or torch opens in native code.

    The functions are wrapped where they are defined and rebound wherever a module already holds them by name
    (``from huggingface_hub import hf_hub_download``); call :func:`rebind` again after importing transformers.
    """
    import huggingface_hub
    import huggingface_hub._snapshot_download as snap
    import huggingface_hub.file_download as fd
    import huggingface_hub.utils._http as http

    def spy(func: str, orig: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _hub_record(rec, func, args, kwargs)
            return orig(*args, **kwargs)

        wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
        wrapper.__name__ = getattr(orig, "__name__", func)
        return wrapper

    wrapped = rec.wrapped
    for module, name in (
        (fd, "hf_hub_download"),
        (snap, "snapshot_download"),
        (fd, "try_to_load_from_cache"),
        (fd, "get_hf_file_metadata"),
    ):
        orig = getattr(module, name, None)
        if orig is None:
            continue
        new = spy(name, orig)
        setattr(module, name, new)
        setattr(huggingface_hub, name, new)
        wrapped[id(orig)] = new
    api = huggingface_hub.HfApi
    for name in ("hf_hub_download", "snapshot_download", "model_info", "list_repo_files"):
        orig = getattr(api, name, None)
        if orig is not None:
            setattr(api, name, spy(f"HfApi.{name}", orig))

    import safetensors
    import safetensors.torch
    import torch

    def reader(name: str, orig: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rec.file_read(kwargs.get("filename", kwargs.get("f", args[0] if args else None)), name)
            return orig(*args, **kwargs)

        wrapper.__wrapped__ = orig  # type: ignore[attr-defined]
        return wrapper

    for module, name in ((safetensors, "safe_open"), (safetensors.torch, "load_file"), (torch, "load")):
        orig = getattr(module, name)
        new = reader(f"{module.__name__}.{name}", orig)
        setattr(module, name, new)
        wrapped[id(orig)] = new

    orig_hook = http.hf_request_event_hook

    def request_hook(request: Any) -> Any:
        if len(rec.hub_calls) < MAX_EVENTS:
            rec.hub_calls.append(
                {
                    "function": "http-request",
                    "repo_id": None,
                    "filename": None,
                    "revision": None,
                    "origin": None,
                    "url": f"{request.method} {request.url}",
                }
            )
        return orig_hook(request)

    http.hf_request_event_hook = request_hook
    rebind(rec)


def rebind(rec: Recorder) -> None:
    """Point every loaded module's name for a wrapped function at its wrapper."""
    wrapped = rec.wrapped
    for mod in list(sys.modules.values()):
        names = getattr(mod, "__dict__", None)
        if not isinstance(names, dict):
            continue
        for name, value in list(names.items()):
            new = wrapped.get(id(value))
            if new is not None:
                names[name] = new


# --------------------------------------------------------------------------------------------- loading
def tensor_sha256(t: Any) -> str | None:
    """sha256 of a tensor's raw bytes (contiguous, its own dtype, this machine's byte order: checked little)."""
    import torch

    if t.device.type == "meta":
        return None
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    h = hashlib.sha256()
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # the buffer itself: no copy
    return h.hexdigest()


def pick_class(transformers: Any, config: Any, trust_remote_code: bool) -> tuple[Any, str]:
    """The class transformers would load: the auto_map entry (remote code), else ``architectures[0]``."""
    auto_map = getattr(config, "auto_map", None) or {}
    if trust_remote_code and auto_map:
        for key in (
            "AutoModelForCausalLM",
            "AutoModelForImageTextToText",
            "AutoModelForVision2Seq",
            "AutoModelForSeq2SeqLM",
            "AutoModel",
        ):
            if key in auto_map and hasattr(transformers, key):
                return getattr(transformers, key), key
        for key in auto_map:
            if key.startswith("AutoModel") and hasattr(transformers, key):
                return getattr(transformers, key), key
    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls, arch
    return transformers.AutoModel, "AutoModel"


def _key_mapping(model: Any, keys: list[str], state: dict[str, Any]) -> dict[str, list[str | None]]:
    """checkpoint key -> [the name transformers loads it under, the converter pattern that transforms it]."""
    prefix = getattr(model, "base_model_prefix", "") or None
    out: dict[str, list[str | None]] = {}
    conversions = list(getattr(model, "_weight_conversions", None) or [])
    try:
        from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key
    except ImportError:  # an older transformers: only the base-model prefix rule (below)
        pass
    else:
        renamings = [c for c in conversions if isinstance(c, WeightRenaming)]
        converters = [c for c in conversions if isinstance(c, WeightConverter)]
        for key in keys:
            new, pattern = rename_source_key(key, renamings, converters, prefix, state)
            if new not in state and key in state:  # as transformers does: the key itself, maybe with the prefix
                new, pattern = rename_source_key(key, [], [], prefix, state)
            out[key] = [new, pattern]
        return out
    for key in keys:
        new = key
        if key not in state and prefix:
            if key.startswith(prefix + ".") and key[len(prefix) + 1 :] in state:
                new = key[len(prefix) + 1 :]
            elif f"{prefix}.{key}" in state:
                new = f"{prefix}.{key}"
        out[key] = [new, None]
    return out


def _reverted(model: Any, state: dict[str, Any], mapping: dict[str, list[str | None]]) -> dict[str, Any]:
    """Converted tensors (fused, split, permuted on load) turned back into checkpoint form, as ``save_pretrained``
    would write them: their hashes by checkpoint key, and the loaded names the reverse conversion consumed."""
    if not any(m[1] is not None for m in mapping.values()):
        return {"reverted": {}, "converted_loaded": [], "revert_error": None}
    try:
        from transformers.core_model_loading import WeightConverter, apply_converters, revert_weight_conversion

        conversions = list(getattr(model, "_weight_conversions", None) or [])[::-1]
        backward = [c.reverse_transform() for c in conversions]
        converters = [c for c in backward if isinstance(c, WeightConverter)]
        names = sorted(k for k in state if apply_converters(k, converters)[1] is not None)
        back = revert_weight_conversion(model, {k: state[k] for k in names})
        wanted = {k for k, m in mapping.items() if m[1] is not None}
        return {
            "reverted": {k: tensor_sha256(v) for k, v in back.items() if k in wanted},
            "converted_loaded": names,
            "revert_error": None,
        }
    except Exception as exc:  # noqa: BLE001 -- any failure is reported: those tensors are then unverified
        return {
            "reverted": {},
            "converted_loaded": [],
            "revert_error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        }


def load_and_describe(args: dict[str, Any], rec: Recorder, result: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    import torch
    import transformers

    rebind(rec)
    result["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    model_dir = args["model_dir"]
    trc = bool(args.get("trust_remote_code"))
    config = transformers.AutoConfig.from_pretrained(model_dir, trust_remote_code=trc)
    cls, via = pick_class(transformers, config, trc)
    result["loaded_with"] = via
    # transformers >= 5 always builds the model on the meta device and materialises it tensor by tensor
    # (what low_cpu_mem_usage used to ask for); on CPU, in the checkpoint's own dtypes.
    model, info = cls.from_pretrained(model_dir, trust_remote_code=trc, dtype="auto", output_loading_info=True)
    result["load_seconds"] = round(time.perf_counter() - t0, 3)
    rec.active = False  # what follows is the probe's own work

    model.eval()
    result["model_class"] = f"{type(model).__module__}.{type(model).__qualname__}"
    result["base_model_prefix"] = getattr(model, "base_model_prefix", None)
    result["loading_info"] = {k: sorted(str(x) for x in (v or [])) for k, v in (info or {}).items()}
    # checkpoint keys the model's code tells the loader to drop without a warning
    result["ignore_unexpected"] = [str(p) for p in getattr(model, "_keys_to_ignore_on_load_unexpected", None) or []]
    state = model.state_dict()
    params = {n for n, _ in model.named_parameters(remove_duplicate=False)}
    buffers = {n for n, _ in model.named_buffers(remove_duplicate=False)}
    ptrs: dict[tuple[int, int], str] = {}
    tensors: dict[str, dict[str, Any]] = {}
    for name, t in state.items():
        entry: dict[str, Any] = {
            "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "kind": "parameter" if name in params else "buffer" if name in buffers else "other",
            "sha256": tensor_sha256(t),
            "same_storage_as": None,
        }
        if t.device.type != "meta" and t.numel():
            ident = (t.untyped_storage().data_ptr() + t.storage_offset() * t.element_size(), t.numel())
            if ident in ptrs:
                entry["same_storage_as"] = ptrs[ident]
            else:
                ptrs[ident] = name
        tensors[name] = entry
    result["tensors"] = tensors
    result["non_persistent_buffers"] = sorted(buffers - set(state))
    tied = getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {}
    result["tied"] = (
        {str(k): str(v) for k, v in tied.items()} if isinstance(tied, dict) else {str(k): None for k in tied}
    )
    mapping = _key_mapping(model, list(args.get("checkpoint_keys") or []), state)
    result["mapping"] = mapping
    result.update(_reverted(model, state, mapping))
    result["seconds"] = round(time.perf_counter() - t0, 3)


def python_dirs() -> list[str]:
    """Folders whose files are the interpreter's and the installed packages' (reading them is no finding)."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            dirs.add(p)
    dirs.update(p for p in sys.path if p and os.path.isdir(p) and ("site-packages" in p or "dist-packages" in p))
    return sorted(os.path.realpath(d) for d in dirs)


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as fh:
        args = json.load(fh)
    out_path = args["out"]
    library = python_dirs()
    rec = Recorder([args["model_dir"], args.get("modules_cache") or ""], library)
    sys.addaudithook(rec.hook)
    result: dict[str, Any] = {"ok": False, "error": None, "byteorder": sys.byteorder, "python_dirs": library}
    try:
        install_spies(rec)
        load_and_describe(args, rec, result)
        result["ok"] = True
    except BaseException as exc:  # noqa: BLE001 -- the probe reports every failure of the load, SystemExit included
        lines = str(exc).strip().splitlines()
        result["error"] = f"{type(exc).__name__}: {lines[0] if lines else ''}".strip()
        result["traceback"] = traceback.format_exc(limit=12)[-4000:]
    finally:
        rec.active = False
    result["opens"] = list(rec.opens.values())
    result["library_reads"] = rec.library_reads
    result["network"] = rec.network
    result["processes"] = rec.processes
    result["unpickled"] = list(rec.unpickled.values())
    result["hub_calls"] = rec.hub_calls
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
