"""Static audit of a release's remote code (``trust_remote_code``), with Python's ``ast``: nothing is executed.

For each file that an ``auto_map`` names, and each release module it imports (relative imports and same-folder
modules, transitively), the audit lists the imports and every call that reaches outside the locked release:

* hub downloads (``from_pretrained``, ``hf_hub_download``, ``snapshot_download``, …) with their target (a literal
  repo id, a local path, the release itself, or a variable) and whether a ``revision`` pins a commit;
* other network calls (``requests``, ``urllib``, ``httpx``, ``socket``, …);
* unpickling (``torch.load`` without ``weights_only=True``, ``pickle``, ``joblib``, ``numpy.load(allow_pickle=True)``,
  ``dill``, ``marshal``, ``shelve``);
* dynamic execution (``exec``, ``eval``, ``compile``, imports by a computed name, native libraries) and processes
  (``subprocess``, ``os.system``, ``os.popen``, ``os.exec*``, ``pty.spawn``);
* writes, flagged when the target is not under a cache folder (HF cache, the module's own folder, ``tempfile``).

Names are resolved through aliases (``import x as y``, ``from a import b as c``, ``f = torch.load``) and attribute
chains.  What it decides (fail closed):

* ``unpinned-download`` (error): a hub call whose target is another repository (a literal repo id, or a variable that
  may name one) without a literal 40-hex ``revision``; a branch or tag, ``None`` or a computed revision is not a pin.
  The model that loads is then not the locked release.
* ``pinned-download`` (warning): another repository at a literal commit.  Its bytes are fixed, but they are not part
  of this release's lock.  Hub calls that load the release itself (the ``from_pretrained`` argument passed through,
  ``config._name_or_path``) or a local path expression are listed only.
* ``network-call`` (error): any other network call.  Unlike a pinned hub call nothing fixes what it returns.
* ``unpickling`` (error unless ``weights_only=True`` / no ``allow_pickle``), ``dynamic-exec`` and ``subprocess``
  (errors), ``write-outside-cache`` (warning).
* ``not-analyzed`` (error): a file that does not parse, is unreadable, or that the code imports from the release but
  the release does not contain.  A clean file passes only because it was parsed and analysed.

The analysis is syntactic: code can always hide a call from it (data-driven dispatch, C extensions), so a ``pass``
means "nothing of the above is written in this file", not "this file is safe".
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from ..manifests.findings import ClaimResult, Evidence, Finding, Severity

CallKind = Literal["hub", "network", "unpickling", "dynamic-exec", "subprocess", "write"]
TargetKind = Literal["repo-id", "url", "local-path", "release", "variable"]
Pin = Literal["pinned", "branch", "absent", "unknown", "inherited"]
Role = Literal["auto_map", "imported", "foreign"]

MAX_SOURCE_BYTES = 8 * 1024 * 1024  # a remote-code module larger than this is not analysed (and fails closed)
MAX_SEGMENT = 240  # the call as written is cut to this many characters in the listing
_HEX40 = re.compile(r"[0-9a-f]{40}")
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# Codes whose error findings mean the code may run or load something that is not the verified release; the
# trust_remote_code gate refuses on them.
BLOCKING_CODES = frozenset(
    {"unpinned-download", "network-call", "unpickling", "dynamic-exec", "subprocess", "not-analyzed"}
)
# Network codes: what a caller that runs the code with the network closed (the as-loaded audit's offline probe)
# observes as attempts instead of having to prevent them.
NETWORK_CODES = frozenset({"unpinned-download", "pinned-download", "network-call"})
CODES = BLOCKING_CODES | {"pinned-download", "write-outside-cache", "release-load", "local-load", "write-in-cache"}

# ------------------------------------------------------------------------------------------------ what is matched
HUB_FUNCS = {
    "hf_hub_download",
    "snapshot_download",
    "cached_download",
    "cached_file",
    "cached_files",
    "get_file_from_repo",
    "load_dataset",
    "load_state_dict_from_url",
    "download_url_to_file",
}
TORCH_HUB = {"torch.hub.load_state_dict_from_url", "torch.hub.download_url_to_file"}
NETWORK_PREFIXES = (
    "requests",
    "urllib",
    "urllib2",
    "urllib3",
    "httpx",
    "socket",
    "http.client",
    "aiohttp",
    "ftplib",
    "smtplib",
    "telnetlib",
    "websocket",
    "websockets",
    "xmlrpc.client",
    "pycurl",
    "wget",
)
NOT_NETWORK = ("urllib.parse",)  # pure string handling
PICKLE_MODULES = ("pickle", "_pickle", "cPickle", "cloudpickle", "dill")
UNPICKLE_CALLS = {
    "torch.load",
    "torch.serialization.load",
    "joblib.load",
    "sklearn.externals.joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "shelve.DbfilenameShelf",
    "pandas.read_pickle",
    "numpy.load",
    "torch.hub.load_state_dict_from_url",
}
EXEC_BUILTINS = {"exec", "eval", "compile"}
NATIVE_CALLS = {
    "ctypes.CDLL",
    "ctypes.PyDLL",
    "ctypes.WinDLL",
    "ctypes.cdll.LoadLibrary",
    "ctypes.CDLL.LoadLibrary",
    "torch.ops.load_library",
    "torch.utils.cpp_extension.load",
    "torch.utils.cpp_extension.load_inline",
    "runpy.run_path",
    "runpy.run_module",
    "importlib.__import__",
    "code.interact",
    "torch.hub.load",
}  # torch.hub.load runs another repository's hubconf.py
SUBPROCESS_CALLS = {
    "os.system",
    "os.popen",
    "os.startfile",
    "os.posix_spawn",
    "os.posix_spawnp",
    "pty.spawn",
    "platform.popen",
    "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
    "commands.getoutput",
    "commands.getstatusoutput",
}
SUBPROCESS_PREFIXES = ("subprocess.", "os.exec", "os.spawn")
_MODE = re.compile(r"[rwaxbtU+]{1,5}")
OPEN_CALLS = {
    "open",
    "io.open",
    "codecs.open",
    "gzip.open",
    "bz2.open",
    "lzma.open",
    "tarfile.open",
    "zipfile.ZipFile",
    "pathlib.Path.open",
}
# function -> index of the positional argument that is the written path (0 = first)
WRITE_CALLS = {
    "os.remove": 0,
    "os.unlink": 0,
    "os.rmdir": 0,
    "os.removedirs": 0,
    "os.rename": 1,
    "os.renames": 1,
    "os.replace": 1,
    "os.makedirs": 0,
    "os.mkdir": 0,
    "os.symlink": 1,
    "os.link": 1,
    "os.truncate": 0,
    "os.chmod": 0,
    "shutil.rmtree": 0,
    "shutil.copy": 1,
    "shutil.copy2": 1,
    "shutil.copyfile": 1,
    "shutil.copytree": 1,
    "shutil.move": 1,
    "torch.save": 1,
    "numpy.save": 0,
    "numpy.savez": 0,
    "numpy.savez_compressed": 0,
}
# methods whose name alone says they write the path they are called on (pathlib); .rename/.replace are left out
# because str.replace and DataFrame.rename would drown the listing
PATH_WRITE_METHODS = {"write_text", "write_bytes", "unlink", "rmdir", "touch", "symlink_to", "hardlink_to"}
OS_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC")
CACHE_HINTS = ("cache", "tmp", "temp", "__file__")
RELEASE_SELF = ("_name_or_path", "name_or_path")
RELEASE_OWNERS = (["config"], ["self", "config"], ["self"], ["model", "config"], ["cls", "config"])
# load_dataset's packaged builders read local files
DATASET_BUILDERS = {
    "json",
    "csv",
    "parquet",
    "text",
    "arrow",
    "imagefolder",
    "audiofolder",
    "videofolder",
    "webdataset",
    "pandas",
    "generator",
    "sql",
}
REVISION_KEYS = ("revision", "commit_hash", "_commit_hash")
_GENERIC_WORDS = {
    "name",
    "path",
    "model",
    "mm",
    "id",
    "or",
    "self",
    "config",
    "cfg",
    "repo",
    "pretrained",
    "dir",
    "args",
    "kwargs",
    "get",
    "getattr",
    "none",
    "type",
    "file",
}


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w and w not in _GENERIC_WORDS}


# Configs whose auto_map transformers follows with trust_remote_code.
AUTO_MAP_CONFIGS = (
    "config.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
    "video_preprocessor_config.json",
)


def remote_code_modules(config: dict[str, Any], config_dir: PurePosixPath) -> tuple[list[str], list[str]]:
    """Files an ``auto_map`` asks transformers to import with trust_remote_code, and references to other repos.

    ``auto_map`` values are ``"module.Class"`` (a file ``module.py`` beside the config), ``"org/repo--module.Class"``
    (code from another repository), or lists of those (tokenizers: [slow, fast], entries may be null).
    """
    auto_map = config.get("auto_map")
    local: set[str] = set()
    foreign: set[str] = set()
    if not isinstance(auto_map, dict):
        return [], []
    refs: list[str] = []
    for value in auto_map.values():
        if isinstance(value, str):
            refs.append(value)
        elif isinstance(value, list):
            refs.extend(v for v in value if isinstance(v, str))
    for ref in refs:
        if "--" in ref:
            foreign.add(ref)
            continue
        module = ref.rsplit(".", 1)[0] if "." in ref else ref
        local.add(str(config_dir / (module.replace(".", "/") + ".py")))
    return sorted(local), sorted(foreign)


# ------------------------------------------------------------------------------------------------------ results
class CodeImport(BaseModel):
    """One import statement (or a dynamic import by a literal name)."""

    line: int
    source: str = Field(description="The statement as written.")
    module: str = Field(description="Module as written, with its leading dots for a relative import.")
    names: list[str] = Field(default_factory=list)
    dynamic: bool = Field(False, description="importlib.import_module / __import__ with a literal name.")
    status: Literal["release", "missing", "external"] = Field(
        description="release: a module of this release (analysed too); missing: a release module the release does "
        "not contain; external: an installed package or the standard library."
    )
    resolved: str | None = Field(None, description="The release file it resolves to, or the one it should be.")


class CodeCall(BaseModel):
    """One call that reaches outside the locked release, as written."""

    file: str
    line: int
    col: int
    source: str = Field(description="The call as written (cut at 240 characters).")
    kind: CallKind
    name: str = Field(description="The called name after resolving aliases, e.g. torch.load.")
    what: str = Field(description="What it is, in words.")
    code: str
    severity: Severity
    message: str = Field(description="Why it matters, as the finding says it.")
    target: str | None = Field(None, description="What it loads or writes, as written.")
    target_kind: TargetKind | None = None
    revision: str | None = Field(None, description="The revision argument as written.")
    pin: Pin | None = None
    candidates: list[str] = Field(
        default_factory=list,
        description="For a variable target: the repositories the release's configs name "
        "that it may hold (`repo (config.json:key)`), those whose key shares a "
        "word with the variable first.",
    )


class RemoteCodeFile(BaseModel):
    path: str
    role: Role
    named_by: list[str] = Field(default_factory=list, description="Configs (auto_map keys) or modules importing it.")
    status: Literal["analyzed", "not-analyzed", "missing"] = Field(
        description="missing: the release lacks it (or it is another repository's code); not-analyzed: it could "
        "not be parsed or read."
    )
    reason: str | None = Field(None, description="Why it was not analysed.")
    sha256: str | None = Field(None, description="sha256 of the bytes analysed.")
    verified_sha256: str | None = Field(None, description="The sha256 verify measured for this artifact, if given.")
    imports: list[CodeImport] = Field(default_factory=list)
    calls: list[CodeCall] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]


class RemoteCodeAudit(BaseModel):
    """The remote code of a release, file by file, with the findings that decide whether it may be trusted."""

    files: list[RemoteCodeFile] = Field(default_factory=list)
    config_repos: dict[str, str] = Field(
        default_factory=dict,
        description="Config values that name another repository (`config.json:mm_vision_tower` -> repo id).",
    )
    verified: bool = Field(False, description="Whether sha256 values from verify were given to compare against.")

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern; serialised with --json
    @property
    def findings(self) -> list[Finding]:
        return [f for rf in self.files for f in rf.findings]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """Every file analysed, none with an error finding (an audit with no files is ok: there is no code)."""
        return all(rf.status == "analyzed" and not rf.errors for rf in self.files)

    def to_claims(self, step: str = "verify") -> list[ClaimResult]:
        """One ``remote-code`` row per file: pass only when it was parsed, analysed, is the verified artifact (when
        verify's sha256 map was given) and has no error finding."""
        rows: list[ClaimResult] = []
        for rf in self.files:
            measured = {
                k: sum(c.kind == k for c in rf.calls)
                for k in ("hub", "network", "unpickling", "dynamic-exec", "subprocess", "write")
            }
            evidence = [
                Evidence(
                    kind="file",
                    ref=rf.path,
                    sha256=rf.sha256,
                    note="parsed with ast, nothing executed"
                    + ("" if self.verified else "; not compared with a verified sha256"),
                )
            ]
            declared = (
                f"executed with trust_remote_code ({', '.join(rf.named_by)})"
                if rf.named_by
                else "executed with trust_remote_code"
            )
            row = ClaimResult(
                id=f"remote-code-audit:{rf.path}",
                step=step,
                kind="remote-code",
                subject=rf.path,
                declared=declared,
                measured=measured,
                verdict="pass",
                evidence=evidence,
            )
            errors = rf.errors
            if rf.status != "analyzed":
                # code the release needs but lacks fails; code that could not be read or parsed was not checked
                row.verdict = "fail" if rf.status == "missing" and rf.role != "foreign" else "not-checked"
                row.message = f"not-analyzed: {rf.reason}"
                row.measured = None
                row.evidence = [] if rf.sha256 is None else evidence
                row.needs = ["network"] if rf.role == "foreign" else []
            elif self.verified and (rf.verified_sha256 is None or rf.verified_sha256 != rf.sha256):
                row.verdict = "not-checked"
                row.message = (
                    "the bytes analysed are not the verified release file "
                    f"(verified {rf.verified_sha256 or 'nothing'}, analysed {rf.sha256})"
                )
            elif errors:
                codes = sorted({f.code for f in errors})
                row.verdict = "fail"
                row.message = (
                    "; ".join(f"{f.code}: {f.where}: {f.message}" for f in errors[:3])
                    + (f" (+{len(errors) - 3} more)" if len(errors) > 3 else "")
                    + f" [{', '.join(codes)}]"
                )
            else:
                warnings = [f for f in rf.findings if f.severity == "warning"]
                row.message = (
                    "parsed and analysed: no unpinned download, network call, unpickling, execution or process"
                ) + (
                    f"; {len(warnings)} warning(s): " + "; ".join(f"{f.code}: {f.where}" for f in warnings[:3])
                    if warnings
                    else ""
                )
            rows.append(row)
        return rows


# -------------------------------------------------------------------------------------------------- the visitor
def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> [a, b, c]; a call in the chain becomes ``name()``; None for anything else."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        elif isinstance(node, ast.Call):
            inner = _dotted(node.func)
            if inner is None:
                return None
            inner[-1] += "()"
            return inner + parts[::-1]
        else:
            return None


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Analyzer(ast.NodeVisitor):
    """Collects imports and outside-reaching calls of one module.  Name binding is flow-insensitive (every alias
    anywhere in the file counts everywhere): a static reader cannot follow control flow, and over-resolving a name
    can only list more, never less."""

    def __init__(self, path: str, text: str, config_repos: Mapping[str, str]) -> None:
        self.path = path
        self.lines = text.split("\n")
        self._encoded: dict[int, bytes] = {}
        self.config_repos = config_repos
        self.aliases: dict[str, str] = {}
        self.constants: dict[str, str | None] = {}
        self.imports: list[CodeImport] = []
        self.calls: list[CodeCall] = []
        self.func_stack: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self._import_nodes: list[tuple[ast.AST, str, list[str], int]] = []

    # --- binding pass
    def bind(self, tree: ast.AST) -> None:
        """Aliases (imports, ``f = torch.load``) and literal string constants, from one walk of the tree."""
        literal_stores: dict[str, int] = {}
        stores: dict[str, int] = {}
        assigns: list[tuple[str, ast.expr]] = []
        for node in ast.walk(tree):
            # every binding of a name counts: a literal resolves only if it is the name's only binding
            bound = (
                node.id
                if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)
                else node.arg
                if isinstance(node, ast.arg)
                else node.name
                if isinstance(node, ast.ExceptHandler)
                else None
            )
            if bound:
                stores[bound] = stores.get(bound, 0) + 1
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        self.aliases[a.asname] = a.name
                    else:
                        head = a.name.split(".", 1)[0]
                        self.aliases.setdefault(head, head)
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                for a in node.names:
                    if a.name != "*":
                        full = f"{base}.{a.name}" if base and not base.endswith(".") else f"{base}{a.name}"
                        self.aliases[a.asname or a.name] = full
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                assigns.append((node.targets[0].id, node.value))
                if _const_str(node.value) is not None:
                    literal_stores[node.targets[0].id] = literal_stores.get(node.targets[0].id, 0) + 1
        for name, value in assigns:
            lit = _const_str(value)
            if lit is not None:
                same = self.constants.get(name, lit) == lit and stores.get(name) == literal_stores.get(name)
                self.constants[name] = lit if same else None
                continue
            self.constants[name] = None
            chain = _dotted(value)
            if chain and "()" not in "".join(chain) and chain[0] in self.aliases and name not in self.aliases:
                self.aliases[name] = self.resolve(chain)

    def resolve(self, chain: list[str]) -> str:
        head = chain[0]
        if head in self.aliases and self.aliases[head] != head:
            return ".".join([self.aliases[head], *chain[1:]])
        return ".".join(chain)

    def segment(self, node: ast.AST) -> str:
        """The node's source text, cut at MAX_SEGMENT characters.

        Not ast.get_source_segment: it re-splits the whole file on every call (quadratic on a long module with many
        calls).  The text comes from decode_source (newlines already \\n); ast's columns are UTF-8 byte offsets.
        """
        start, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        col, end_col = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if start is None or end is None or col is None or end_col is None or not 0 < start <= end <= len(self.lines):
            return ast.dump(node)[:MAX_SEGMENT]
        if start == end:
            seg = self._bytes(start)[col:end_col].decode("utf-8", "replace")
        else:
            parts = [self._bytes(start)[col:].decode("utf-8", "replace")]
            for n in range(start + 1, end):
                if sum(map(len, parts)) > MAX_SEGMENT:
                    break
                parts.append(self.lines[n - 1])
            else:
                parts.append(self._bytes(end)[:end_col].decode("utf-8", "replace"))
            seg = "\n".join(parts)
        return seg if len(seg) <= MAX_SEGMENT else seg[: MAX_SEGMENT - 1] + "…"

    def _bytes(self, lineno: int) -> bytes:
        line = self._encoded.get(lineno)
        if line is None:
            line = self._encoded[lineno] = self.lines[lineno - 1].encode("utf-8", "surrogatepass")
        return line

    # --- scopes
    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.func_stack.append(node)
        self.generic_visit(node)
        self.func_stack.pop()

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self.func_stack.append(node)
        self.generic_visit(node)
        self.func_stack.pop()

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._import_nodes.append((node, a.name, [], 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._import_nodes.append((node, node.module or "", [a.name for a in node.names], node.level))

    # --- calls
    def visit_Call(self, node: ast.Call) -> None:
        self.generic_visit(node)
        chain = _dotted(node.func)
        if chain == ["getattr"] and len(node.args) >= 2:
            self._getattr(node)
        inner = node.func
        if isinstance(inner, ast.Call) and _dotted(inner.func) == ["getattr"] and len(inner.args) >= 2:
            obj, attr = _dotted(inner.args[0]), _const_str(inner.args[1])
            chain = [*obj, attr] if obj is not None and attr is not None else None  # getattr(torch, "load")(f)
        name = self.resolve(chain) if chain else ""
        if not name:
            return
        last = name.rsplit(".", 1)[-1]
        if last == "from_pretrained" or last in HUB_FUNCS or name in TORCH_HUB:
            self._hub(node, name)
        if self._network(name):
            self.add(
                node,
                "network",
                name,
                "network call",
                "network-call",
                "error",
                "a network call: nothing pins what it returns",
            )
        self._unpickle(node, name)
        self._exec(node, name, chain or [])
        if name in SUBPROCESS_CALLS or name.startswith(SUBPROCESS_PREFIXES):
            self.add(
                node, "subprocess", name, "starts a process", "subprocess", "error", "starts a process from remote code"
            )
        self._write(node, name, chain or [])

    def add(
        self,
        node: ast.AST,
        kind: CallKind,
        name: str,
        what: str,
        code: str,
        severity: Severity,
        message: str,
        **extra: Any,
    ) -> None:
        self.calls.append(
            CodeCall(
                file=self.path,
                line=getattr(node, "lineno", 0),
                col=getattr(node, "col_offset", 0),
                source=self.segment(node),
                kind=kind,
                name=name,
                what=what,
                code=code,
                severity=severity,
                message=message,
                **extra,
            )
        )

    def _arg(self, node: ast.Call, index: int, *keys: str) -> ast.AST | None:
        for kw in node.keywords:
            if kw.arg in keys:
                return kw.value
        positional = [a for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args[: index + 1]):
            return None
        return positional[index] if index < len(positional) else None

    def _hub(self, node: ast.Call, name: str) -> None:
        keys = ("pretrained_model_name_or_path", "repo_id", "repo_or_dir", "path", "url")
        target = self._arg(node, 0, *keys)
        kind, shown = self._target_kind(target)
        rev_node = next((kw.value for kw in node.keywords if kw.arg in REVISION_KEYS), None)
        has_kwargs = any(kw.arg is None for kw in node.keywords)
        rev_text = self.segment(rev_node) if rev_node is not None else None
        rev_lit = _const_str(rev_node)
        if isinstance(rev_node, ast.Name) and self.constants.get(rev_node.id):
            rev_lit = self.constants[rev_node.id]
        pin: Pin
        if rev_lit is not None:
            pin = "pinned" if _HEX40.fullmatch(rev_lit) else "branch"
        elif rev_node is None or (isinstance(rev_node, ast.Constant) and rev_node.value is None):
            pin = "inherited" if has_kwargs and kind == "release" else "absent"
        else:
            pin = "unknown"
        offline = any(
            kw.arg == "local_files_only" and isinstance(kw.value, ast.Constant) and kw.value.value is True
            for kw in node.keywords
        )
        what = f"hub call: loads {shown}"
        extra: dict[str, Any] = {"target": shown, "target_kind": kind, "revision": rev_text, "pin": pin}
        if kind == "release":
            self.add(
                node,
                "hub",
                name,
                what + " (the release itself)",
                "release-load",
                "info",
                "loads the release itself (the path and revision the caller gave)",
                **extra,
            )
            return
        if kind == "local-path":
            # a path computed from the release's own path (os.path.join(pretrained_model_name_or_path, …)) is listed;
            # a literal path names a place on the machine that is not the release
            literal = isinstance(target, ast.Constant) or (
                isinstance(target, ast.Name) and bool(self.constants.get(target.id))
            )
            self.add(
                node,
                "hub",
                name,
                what + " (a local path)",
                "local-load",
                "warning" if literal else "info",
                f"loads {shown}, a fixed local path outside the release"
                if literal
                else f"loads from a local path ({shown})",
                **extra,
            )
            return
        trc = self._kw(node, "trust_remote_code")
        if trc is not None and not (isinstance(trc, ast.Constant) and trc.value in (False, None)):
            self.add(
                node,
                "dynamic-exec",
                name,
                "runs another repository's remote code",
                "dynamic-exec",
                "error",
                f"loads {shown} with trust_remote_code={self.segment(trc)}: it runs that repository's code, which "
                "this audit did not analyse",
                target=shown,
                target_kind=kind,
            )
        if pin == "pinned":
            self.add(
                node,
                "hub",
                name,
                what + f" at commit {rev_lit}",
                "pinned-download",
                "warning",
                f"loads another repository ({shown}) at a pinned commit: its files are not in this release's lock",
                **extra,
            )
            return
        why = {
            "branch": f"revision {rev_text} is a branch or tag, not a commit",
            "absent": "no revision",
            "unknown": f"revision {rev_text} is computed at run time (unknown: treated as not pinned)",
            "inherited": "no revision",
            "pinned": "",
        }[pin]
        whose = (
            f"another repository ({shown})"
            if kind == "repo-id"
            else f"{shown}, a variable that may name another repository (unknown target: treated as one)"
        )
        hint = ""
        if kind == "variable" and self.config_repos:
            # which config value the variable holds is data flow a static reader does not follow; a shared word
            # between the variable and the config key (vision_tower_path ~ mm_vision_tower) ranks it first
            named = [f"{v} ({k})" for k, v in self.config_repos.items()]
            likely = [f"{v} ({k})" for k, v in self.config_repos.items() if _words(shown) & _words(k.split(":", 1)[-1])]
            extra["candidates"] = likely + [n for n in named if n not in likely]
            hint = f"; likely {', '.join(likely)}" if likely else f"; the release's configs name {', '.join(named)}"
        self.add(
            node,
            "hub",
            name,
            what,
            "unpinned-download",
            "error",
            f"loads {whose} with {why}{' (from the local cache only)' if offline else ''}: the model that loads "
            f"is not the locked release{hint}",
            **extra,
        )

    def _target_kind(self, target: ast.AST | None) -> tuple[TargetKind, str]:
        if target is None:
            return "variable", "(no target argument)"
        shown = self.segment(target)
        lit = _const_str(target)
        if lit is None and isinstance(target, ast.Name) and self.constants.get(target.id):
            lit = self.constants[target.id]
        if lit is not None:
            if lit in DATASET_BUILDERS:
                return "local-path", repr(lit)
            if lit.startswith(("http://", "https://", "ftp://", "s3://", "gs://")):
                return "url", repr(lit)
            if lit.startswith(("/", ".", "~")) or "\\" in lit or lit.count("/") > 1:
                return "local-path", repr(lit)
            return "repo-id", repr(lit)
        if self._is_release(target):
            return "release", shown
        chain = _dotted(target.func) if isinstance(target, ast.Call) else None
        called = self.resolve(chain) if chain else ""
        if (
            called.startswith(("os.path.", "pathlib.", "posixpath."))
            or called in ("Path", "PurePath")
            or (isinstance(target, ast.BinOp) and isinstance(target.op, ast.Div))
        ):
            return "local-path", shown
        return "variable", shown

    def _is_release(self, target: ast.AST) -> bool:
        """The release itself: the first argument a ``from_pretrained`` override received (passed through), or
        ``config._name_or_path`` (what the caller loaded)."""
        if isinstance(target, ast.Attribute) and target.attr in RELEASE_SELF:
            # config._name_or_path is what the caller loaded; config.vision_config._name_or_path is another model
            return _dotted(target.value) in RELEASE_OWNERS
        if isinstance(target, ast.Name):
            for fn in reversed(self.func_stack):
                params = [a.arg for a in fn.args.posonlyargs + fn.args.args if a.arg not in ("self", "cls")]
                if fn.name == "from_pretrained" and params and params[0] == target.id:
                    return True
        return False

    def _network(self, name: str) -> bool:
        if name.startswith(NOT_NETWORK):
            return False
        return any(name == p or name.startswith(p + ".") for p in NETWORK_PREFIXES)

    def _kw(self, node: ast.Call, key: str) -> ast.AST | None:
        return next((kw.value for kw in node.keywords if kw.arg == key), None)

    def _unpickle(self, node: ast.Call, name: str) -> None:
        mod, _, last = name.rpartition(".")
        hit = name in UNPICKLE_CALLS or (
            mod.split(".", 1)[0] in PICKLE_MODULES and (last.startswith(("load", "Unpickler")))
        )
        if not hit:
            return
        if name == "numpy.load":
            ap = self._kw(node, "allow_pickle")
            if ap is None or (isinstance(ap, ast.Constant) and ap.value is False):
                self.add(
                    node,
                    "unpickling",
                    name,
                    "numpy.load without allow_pickle (no unpickling)",
                    "unpickling",
                    "info",
                    "numpy.load refuses pickled object arrays here",
                )
                return
            lit = isinstance(ap, ast.Constant) and ap.value is True
            self.add(
                node,
                "unpickling",
                name,
                "numpy.load(allow_pickle=...)",
                "unpickling",
                "error",
                "numpy.load with allow_pickle=True unpickles object arrays: loading runs code"
                if lit
                else f"numpy.load with allow_pickle={self.segment(ap)} (unknown: treated as True)",
            )
            return
        if name in ("torch.load", "torch.serialization.load", "torch.hub.load_state_dict_from_url"):
            wo = self._kw(node, "weights_only")
            if isinstance(wo, ast.Constant) and wo.value is True:
                self.add(
                    node,
                    "unpickling",
                    name,
                    f"{name}(weights_only=True)",
                    "unpickling",
                    "info",
                    "restricted unpickler (weights_only=True)",
                )
                return
            why = (
                "without weights_only"
                if wo is None
                else f"with weights_only={self.segment(wo)}"
                + ("" if isinstance(wo, ast.Constant) else " (unknown: treated as False)")
            )
            self.add(
                node,
                "unpickling",
                name,
                f"{name} {why}",
                "unpickling",
                "error",
                f"{name} {why}: unpickling a file runs code chosen by whoever wrote it (the default depends on "
                "the torch version; only an explicit weights_only=True is safe)",
            )
            return
        self.add(
            node,
            "unpickling",
            name,
            f"{name}: unpickling",
            "unpickling",
            "error",
            f"{name} unpickles: loading runs code chosen by whoever wrote the file",
        )

    def _exec(self, node: ast.Call, name: str, chain: list[str]) -> None:
        builtin = (
            name
            if len(chain) == 1 and chain[0] not in self.aliases
            else name.removeprefix("builtins.")
            if name.startswith("builtins.")
            else None
        )
        if builtin in EXEC_BUILTINS:
            self.add(
                node,
                "dynamic-exec",
                builtin,
                f"{builtin}(): runs code built at run time",
                "dynamic-exec",
                "error",
                f"{builtin}() runs code that is not in the reviewed source",
            )
            return
        if builtin == "__import__" or name in ("importlib.import_module", "importlib.__import__"):
            first = self._arg(node, 0, "name")
            lit = _const_str(first)
            if lit is not None:
                self.imports.append(
                    CodeImport(line=node.lineno, source=self.segment(node), module=lit, dynamic=True, status="external")
                )
                return
            self.add(
                node,
                "dynamic-exec",
                name,
                "imports a module named at run time",
                "dynamic-exec",
                "error",
                "imports a module whose name is computed at run time",
            )
            return
        if name in NATIVE_CALLS:
            self.add(
                node,
                "dynamic-exec",
                name,
                "runs or loads code outside the source (native library, compiled extension or another script)",
                "dynamic-exec",
                "error",
                f"{name} runs code that is not in the reviewed source",
            )

    def _getattr(self, node: ast.Call) -> None:
        obj = _dotted(node.args[0])
        attr = _const_str(node.args[1])
        if obj is None:
            return
        resolved = self.resolve(obj)
        risky = resolved.split(".", 1)[0] in (
            "os",
            "subprocess",
            "builtins",
            "pickle",
            "importlib",
            "sys",
            "shutil",
            "socket",
            "requests",
        )
        if attr is None and risky:
            self.add(
                node,
                "dynamic-exec",
                f"getattr({resolved}, …)",
                "looks up a function by a computed name",
                "dynamic-exec",
                "error",
                f"getattr on {resolved} with a computed name: any function of it may be called",
            )

    def _write(self, node: ast.Call, name: str, chain: list[str]) -> None:
        target: ast.AST | None = None
        what = ""
        last = chain[-1] if chain else ""
        method = (
            isinstance(node.func, ast.Attribute)
            and last == "open"
            and name not in OPEN_CALLS
            and name != "os.open"
            and not self._network(name)
        )
        if name in OPEN_CALLS or method:
            mode = self._arg(node, 0 if method else 1, "mode")
            lit = _const_str(mode)
            if mode is None or (lit is not None and not (_MODE.fullmatch(lit) and set(lit) & set("wax+"))):
                return
            if lit is None and method:  # x.open(arg): arg may be a path (PIL's Image.open), not a mode
                return
            target = (
                node.func.value
                if method and isinstance(node.func, ast.Attribute)
                else self._arg(node, 0, "file", "name")
            )
            what = f"opens for writing (mode {self.segment(mode)}" + (")" if lit is not None else ", computed)")
        elif name == "os.open":
            flags = self._arg(node, 1, "flags")
            if flags is None or not any(f in self.segment(flags) for f in OS_WRITE_FLAGS):
                return
            target, what = self._arg(node, 0, "path"), "opens for writing (os.open)"
        elif name in WRITE_CALLS:
            target, what = self._arg(node, WRITE_CALLS[name], "dst", "path", "f", "file"), f"{name}: writes or removes"
        elif isinstance(node.func, ast.Attribute) and last in PATH_WRITE_METHODS:
            target, what = node.func.value, f".{last}(): writes or removes"
        else:
            return
        shown = self.segment(target) if target is not None else "(unknown)"
        under_cache = target is not None and any(h in shown.lower() for h in CACHE_HINTS)
        if under_cache:
            self.add(
                node,
                "write",
                name,
                what + " under a cache or temporary folder",
                "write-in-cache",
                "info",
                f"writes {shown} (a cache/temporary folder or the module's own folder)",
                target=shown,
            )
        else:
            self.add(
                node,
                "write",
                name,
                what,
                "write-outside-cache",
                "warning",
                f"writes {shown}, not under a cache folder (HF cache, tempfile, the module's own folder)",
                target=shown,
            )


# ------------------------------------------------------------------------------------------------- one file
def _decode(data: bytes) -> str:
    # importlib.util.decode_source applies the PEP 263 coding cookie and universal newlines, as the importer does
    return importlib.util.decode_source(data)


def analyse_source(
    path: str,
    data: bytes,
    config_repos: Mapping[str, str] | None = None,
) -> tuple[RemoteCodeFile, list[tuple[CodeImport, int]]]:
    """Parse and analyse one module's bytes.  Never raises: what cannot be parsed is ``not-analyzed``.

    Returns the file and its imports with their relative level (for the caller to resolve against the release).
    """
    rf = RemoteCodeFile(path=path, role="auto_map", status="analyzed", sha256=hashlib.sha256(data).hexdigest())
    if len(data) > MAX_SOURCE_BYTES:
        return _not_analyzed(rf, f"{len(data):,} bytes, over the {MAX_SOURCE_BYTES:,}-byte limit"), []
    try:
        text = _decode(data)
        tree = ast.parse(text, filename=path)
        an = _Analyzer(path, text, config_repos or {})
        an.bind(tree)
        an.visit(tree)
    # A file Python cannot compile (or that is too deeply nested for ast, in any encoding) is not analysed; every
    # such failure is turned into a not-analyzed finding here, never raised.
    except (SyntaxError, ValueError, LookupError, UnicodeError, RecursionError, MemoryError) as exc:
        msg = exc.msg if isinstance(exc, SyntaxError) else str(exc) or type(exc).__name__
        line = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        return _not_analyzed(rf, f"does not parse: {type(exc).__name__}: {msg}{line}"), []
    pending: list[tuple[CodeImport, int]] = []
    for node, module, names, level in an._import_nodes:
        imp = CodeImport(
            line=getattr(node, "lineno", 0),
            source=an.segment(node),
            module="." * level + module,
            names=names,
            status="external",
        )
        pending.append((imp, level))
    for imp in an.imports:  # dynamic imports by a literal name
        pending.append((imp, len(imp.module) - len(imp.module.lstrip("."))))
    rf.calls = sorted(an.calls, key=lambda c: (c.line, c.col))
    rf.findings = [Finding.make(c.severity, c.code, c.message, where=f"{path}:{c.line}") for c in rf.calls]
    return rf, pending


def _not_analyzed(rf: RemoteCodeFile, reason: str, missing: bool = False) -> RemoteCodeFile:
    rf.status, rf.reason = ("missing" if missing else "not-analyzed"), reason
    rf.findings = [
        Finding.make("error", "not-analyzed", f"{reason}: the code was not analysed (fail closed)", where=rf.path)
    ]
    return rf


# ------------------------------------------------------------------------------------------- the whole release
def _module_candidates(base: PurePosixPath, module: str) -> list[str]:
    stem = base / module.replace(".", "/") if module else base
    out = [f"{stem}.py", f"{stem}/__init__.py"] if module else [f"{stem}/__init__.py"]
    return [p[2:] if p.startswith("./") else p for p in out]


def _config_repos(configs: Mapping[str, Any]) -> dict[str, str]:
    """Config string values that look like another repository's id (``org/name``), e.g. ``mm_vision_tower``."""
    found: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in ("auto_map", "_name_or_path", "name_or_path"):
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, str) and _REPO_ID.fullmatch(value) and not value.endswith((".py", ".json")):
            found[prefix] = value

    for path, cfg in configs.items():
        if isinstance(cfg, dict):
            for k, v in cfg.items():
                if k not in ("auto_map", "_name_or_path", "name_or_path"):
                    walk(f"{path}:{k}", v)
    return found


def audit_remote_code(
    entries: Mapping[str, Iterable[str]],
    read: Callable[[str], bytes | None],
    release_files: Collection[str],
    *,
    verified: Mapping[str, str | None] | None = None,
    foreign: Iterable[str] = (),
    configs: Mapping[str, Any] | None = None,
) -> RemoteCodeAudit:
    """Audit the files ``auto_map`` names and, transitively, the release modules they import.

    ``entries`` maps each release-relative code path to what names it (``config.json:AutoModel``); ``read`` returns
    a release file's bytes or None; ``release_files`` are the release's paths; ``verified`` (optional) is verify's
    path -> sha256 map (None for a file that did not verify); ``foreign`` are ``repo--module.Class`` references to
    code in other repositories; ``configs`` (path -> parsed JSON) give the repositories a variable may name.
    """
    repos = _config_repos(configs or {})
    audit = RemoteCodeAudit(config_repos=repos, verified=verified is not None)
    files: dict[str, RemoteCodeFile] = {}
    release = set(release_files)
    queue: list[tuple[str, Role, str]] = [
        (p, "auto_map", by) for p, bys in sorted(entries.items()) for by in (list(bys) or [""])
    ]
    while queue:
        path, role, by = queue.pop(0)
        if path in files:
            if by and by not in files[path].named_by:
                files[path].named_by.append(by)
            continue
        data = read(path) if path in release else None
        if data is None:
            missing = path not in release
            rf = _not_analyzed(
                RemoteCodeFile(path=path, role=role, status="not-analyzed"),
                f"{path} is {'not in the release' if missing else 'unreadable'}",
                missing=missing,
            )
        else:
            rf, pending = analyse_source(path, data, repos)
            rf.role = role
            for imp, level in pending:
                for hit in _resolve_import(imp, level, PurePosixPath(path).parent, release):
                    queue.append((hit, "imported", path))
                if imp.status == "missing":
                    rf.findings.append(
                        Finding.make(
                            "error",
                            "not-analyzed",
                            f"imports {imp.module!r} ({imp.resolved}), which is not in the "
                            "release: the code it runs was not analysed (fail closed)",
                            where=f"{path}:{imp.line}",
                        )
                    )
                rf.imports.append(imp)
            rf.imports.sort(key=lambda i: i.line)
        rf.named_by = [by] if by else []
        if verified is not None:
            rf.verified_sha256 = verified.get(path)
        files[path] = rf
    for ref in sorted(set(foreign)):
        files[ref] = _not_analyzed(
            RemoteCodeFile(path=ref, role="foreign", status="not-analyzed"),
            f"auto_map names code in another repository ({ref}): it is not in the release",
            missing=True,
        )
    audit.files = list(files.values())
    return audit


def _resolve_import(imp: CodeImport, level: int, base: PurePosixPath, release: set[str]) -> list[str]:
    """Set the import's status (release / missing / external); return the release modules it loads.

    Relative imports resolve against the importing file's folder (``level - 1`` folders up); ``from . import a``
    loads sibling modules ``a``.  An absolute import resolves to a same-folder module when the release has one
    (transformers runs the code with its folder on the import path), else it is an installed package.
    """
    module = imp.module.lstrip(".")
    if not level:
        hit = next((c for c in _module_candidates(base, module) if c in release), None)
        if hit is not None:
            imp.status, imp.resolved = "release", hit
            return [*_packages(base, module, release), hit]
        return []
    if level - 1 > len(base.parts):
        imp.status, imp.resolved = "missing", f"{imp.module} (above the release root)"
        return []
    up = base
    for _ in range(level - 1):
        up = up.parent
    cands = _module_candidates(up, module)
    loads = [c for c in cands if c in release][:1]
    for n in imp.names:  # from .pkg import submodule / from . import sibling
        sub = next((c for c in _module_candidates(up, f"{module}.{n}" if module else n) if c in release), None)
        if sub is not None and sub not in loads:
            loads.append(sub)
    if not loads:
        imp.status, imp.resolved = "missing", cands[0]
        if not module and imp.names:
            imp.resolved = _module_candidates(up, imp.names[0])[0]
        return []
    imp.status, imp.resolved = "release", loads[0]
    return _packages(up, module, release) + loads


def _packages(base: PurePosixPath, module: str, release: set[str]) -> list[str]:
    """The ``__init__.py`` of each package above a dotted module (importing ``a.b.c`` runs ``a`` and ``a.b``)."""
    parts = module.split(".")[:-1] if module else []
    inits = [str(base.joinpath(*parts[: i + 1], "__init__.py")) for i in range(len(parts))]
    return [p for p in inits if p in release]


def _read_capped(path: Path) -> bytes | None:
    """A file's bytes, at most one byte past the analysis limit (so an oversized file is refused, not read whole)."""
    try:
        with path.open("rb") as fh:
            return fh.read(MAX_SOURCE_BYTES + 1)
    except OSError:
        return None


def _auto_map(configs: Mapping[str, Any]) -> tuple[dict[str, list[str]], list[str]]:
    """What each config's ``auto_map`` names: local module path -> ``config:auto_map`` names, and foreign refs."""
    entries: dict[str, list[str]] = {}
    foreign: list[str] = []
    for rel, cfg in sorted(configs.items()):
        local, other = remote_code_modules(cfg, PurePosixPath(rel).parent)
        foreign += other
        for mod in local:
            entries.setdefault(mod[2:] if mod.startswith("./") else mod, []).append(f"{rel}:auto_map")
    return entries, foreign


def audit_release_code(
    files: Mapping[str, Path],
    verified: Mapping[str, str | None] | None = None,
) -> RemoteCodeAudit | None:
    """The remote-code audit of a release for ``assay verify``: ``files`` maps each artifact present on disk
    (release path -> file) and ``verified`` is verify's path -> sha256 map.  None when no config names code.

    Only artifacts count as the release: an import of a ``.py`` file that the manifest does not list is missing.
    """
    import json

    configs: dict[str, Any] = {}
    for rel, path in files.items():
        if PurePosixPath(rel).name in AUTO_MAP_CONFIGS:
            try:
                cfg = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # verify reports a config that is not JSON; it names no code
                continue
            if isinstance(cfg, dict) and cfg.get("auto_map"):
                configs[rel] = cfg
    entries, foreign = _auto_map(configs)
    if not entries and not foreign:
        return None
    return audit_remote_code(
        entries,
        lambda rel: _read_capped(files[rel]) if rel in files else None,
        set(files),
        verified=verified,
        foreign=foreign,
        configs={**configs, **_all_configs(files, configs)},
    )


def _all_configs(files: Mapping[str, Path], known: Mapping[str, Any]) -> dict[str, Any]:
    """config.json without an auto_map still names the repositories a variable may hold (e.g. mm_vision_tower)."""
    import json

    out: dict[str, Any] = {}
    for rel, path in files.items():
        if PurePosixPath(rel).name == "config.json" and rel not in known:
            try:
                out[rel] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # not JSON: verify reports it
                continue
    return out


def _folder(root: Path) -> tuple[set[str], dict[str, Any]]:
    """A model folder's files (relative paths, no symlinks) and its parsed JSON configs."""
    import json

    release = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}
    configs: dict[str, Any] = {}
    for rel in sorted(release):
        if PurePosixPath(rel).name not in AUTO_MAP_CONFIGS:
            continue
        try:
            cfg = json.loads((root / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # not a JSON config: it names no code
            continue
        if isinstance(cfg, dict):
            configs[rel] = cfg
    return release, configs


def audit_folder(folder: Path | str) -> RemoteCodeAudit:
    """Audit the remote code of a model folder: the files its configs' ``auto_map`` name, and their imports."""
    from ..manifests.errors import InputError

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    release, configs = _folder(root)
    entries, foreign = _auto_map({rel: c for rel, c in configs.items() if c.get("auto_map")})
    return audit_remote_code(entries, lambda rel: _read_capped(root / rel), release, foreign=foreign, configs=configs)


def inspect_remote_code(path: Path | str) -> RemoteCodeAudit:
    """``assay inspect`` on a model folder (the code its configs' ``auto_map`` names) or on one ``.py`` file (that
    module and the modules it imports, its folder taken as the release).  Bad input is an InputError (exit 2)."""
    from ..manifests.errors import InputError

    path = Path(path)
    if path.is_dir():
        audit = audit_folder(path)
        if not audit.files:  # nothing analysed is no verdict: say so instead of printing an empty OK
            raise InputError(f"{path}: no remote code to audit (no config's auto_map names a Python file)")
        return audit
    if not path.is_file():
        raise InputError(f"{path}: no such file or folder")
    if path.suffix != ".py":
        raise InputError(f"{path}: not a Python file or a model folder")
    release, configs = _folder(path.parent)
    return audit_remote_code(
        {path.name: ["command line"]}, lambda rel: _read_capped(path.parent / rel), release, configs=configs
    )


__all__ = [
    "RemoteCodeAudit",
    "RemoteCodeFile",
    "CodeCall",
    "CodeImport",
    "audit_remote_code",
    "audit_folder",
    "audit_release_code",
    "inspect_remote_code",
    "analyse_source",
    "BLOCKING_CODES",
    "NETWORK_CODES",
    "CODES",
]
