"""Long fuzz run of the safetensors header audit, without atheris: the hypothesis strategies and oracles of
tests/test_safetensors_fuzz.py, run for many more inputs, counting failures instead of stopping at the first.

For every input: ``audit_safetensors`` must not raise, must reject whatever ``safetensors.safe_open`` rejects
and agree with it on what both accept; then ``assay inspect --json`` runs through the CLI entry point in this
process (``assay.cli.main.main``, so no interpreter start per input) and its exit code goes into a histogram
(allowed: 0, 1, 2; never a traceback or "internal error").  Every ``--verify-every``-th input also goes through
``assay verify --strict`` and every ``--subprocess-every``-th through a real ``python -m assay.cli`` subprocess.

    python benchmarks/fuzz_safetensors.py --examples 100000
    python benchmarks/fuzz_safetensors.py --examples 2000 --subprocess-every 100

Failing inputs are written to benchmarks/out/fuzz_safetensors/ (git-ignored).  Exit status 1 if any failed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "fuzz_safetensors"


def _load_fuzz_module():
    """The test module holds the strategies and oracles; load it by path (tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("test_safetensors_fuzz", ROOT / "tests" / "test_safetensors_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_CLICK_READY = False


def cli_in_process(args: list[str]) -> tuple[int, str]:
    """Exit code and stderr of ``assay ARGS`` run through the console entry point in this process.

    typer rebuilds the click command on every call (about 75 ms); it is built once here and ``main`` calls it
    the same way (``app(args=..., prog_name=..., standalone_mode=True)``), error mapping included.
    """
    global _CLICK_READY
    import assay.cli.main as cli
    from assay.cli.main import main

    if not _CLICK_READY:
        import typer.main

        cli.app = typer.main.get_command(cli.app)
        _CLICK_READY = True
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else (0 if code is None else 2)), err.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=100_000)
    ap.add_argument("--verify-every", type=int, default=50, help="also run `assay verify --strict` every N inputs")
    ap.add_argument(
        "--subprocess-every", type=int, default=0, help="also run a real subprocess every N inputs (0: never)"
    )
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    opts = ap.parse_args()
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ.pop("ASSAY_DEBUG", None)

    from hypothesis import HealthCheck, given, seed, settings

    fz = _load_fuzz_module()
    stats: dict[str, collections.Counter] = {
        k: collections.Counter() for k in ("inspect", "verify", "subprocess", "verdict", "failures")
    }
    failures: list[tuple[str, bytes, str]] = []
    count = 0
    work = Path(tempfile.mkdtemp(prefix="assay-fuzz-"))
    release = work / "release"
    release.mkdir()
    started = time.perf_counter()

    def fail(kind: str, content: bytes, detail: str) -> None:
        stats["failures"][kind] += 1
        if len(failures) < 50:
            failures.append((kind, content, detail))

    def one(content: bytes) -> None:
        nonlocal count
        count += 1
        path = work / "x.safetensors"
        try:
            report, accepted = fz.check_in_process(path, content)
            stats["verdict"][
                f"official {'accepts' if accepted else 'rejects'}, assay {'accepts' if report.ok else 'rejects'}"
            ] += 1
        except AssertionError as exc:
            fail("in-process oracle", content, str(exc)[:2000])
            return
        except Exception as exc:  # noqa: BLE001 - the audit raising is exactly what this run looks for
            fail("audit raised", content, f"{type(exc).__name__}: {exc}"[:2000])
            return
        code, err = cli_in_process(["inspect", str(path), "--json"])
        stats["inspect"][code] += 1
        if code not in (0, 1, 2) or "Traceback" in err or "internal error" in err or (code == 0) != report.ok:
            fail("inspect", content, f"exit {code}: {err[-1500:]}")
        if opts.verify_every and count % opts.verify_every == 0:
            (release / "model.safetensors").write_bytes(content)
            manifest = {
                "apiVersion": "assay/v1",
                "kind": "Release",
                "release": {"name": "fuzz", "version": "0.1.0"},
                "sources": [{"name": "default", "uri": "dir://."}],
                "artifacts": [
                    {
                        "path": "model.safetensors",
                        "role": "weights",
                        "size": len(content),
                        "sha256": hashlib.sha256(content).hexdigest(),
                    }
                ],
            }
            (release / "assay.yaml").write_text(json.dumps(manifest))
            code, err = cli_in_process(["verify", str(release / "assay.yaml"), "--strict", "--json"])
            stats["verify"][code] += 1
            if code not in (0, 1, 2) or "Traceback" in err or "internal error" in err or (code == 0) != report.ok:
                fail("verify", content, f"exit {code}: {err[-1500:]}")
        if opts.subprocess_every and count % opts.subprocess_every == 0:
            proc = subprocess.run(
                [sys.executable, "-m", "assay.cli", "inspect", str(path), "--json"],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            stats["subprocess"][proc.returncode] += 1
            if proc.returncode not in (0, 1, 2) or "Traceback" in proc.stderr or "internal error" in proc.stderr:
                fail("subprocess", content, f"exit {proc.returncode}: {proc.stderr[-1500:]}")

    run = settings(max_examples=opts.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))(
        given(content=fz.any_file)(one)
    )
    if opts.seed is not None:
        run = seed(opts.seed)(run)
    run()
    seconds = time.perf_counter() - started

    print(f"inputs run: {count} in {seconds:.1f} s ({count / seconds:.0f}/s)")
    for key in ("verdict", "inspect", "verify", "subprocess", "failures"):
        if stats[key]:
            print(f"{key}: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats[key].items(), key=lambda kv: str(kv[0]))))
    if failures:
        OUT.mkdir(parents=True, exist_ok=True)
        for i, (kind, content, detail) in enumerate(failures):
            (OUT / f"{i:03d}.safetensors").write_bytes(content)
            (OUT / f"{i:03d}.txt").write_text(f"{kind}\n{detail}\n")
        print(f"FAILURES: {sum(stats['failures'].values())}; first {len(failures)} written to {OUT}")
        return 1
    print("no failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
