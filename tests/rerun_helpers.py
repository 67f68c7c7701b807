"""Helpers shared by the re-run tests: tiny models, PNG images, a scripted flaky HTTP server, a release with a
published log made by assay's own transformers backend."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

QUESTIONS = [
    "What does this chart show?",
    "How many bars are there in the plot?",
    "What is the average score?",
    "Compare the two groups.",
    "Is the red line above or below the green line?",
    "Which bar is the tallest?",
    "Read the label on the x axis.",
    "What is the total of all values in the table?",
    "Does the trend go up or down?",
    "Count the points in the scatter plot.",
    "What colour is the smallest slice?",
    "Which line has the steepest slope?",
]


def png(seed: int, size: int = 32) -> bytes:
    """A deterministic random RGB PNG."""
    import numpy as np
    from PIL import Image

    arr = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype("uint8")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


class FlakyServer:
    """An OpenAI-shaped HTTP server on 127.0.0.1 that answers from a script.

    ``script`` is a list of (status, delay_s, headers) per request, in arrival order; once it is used up every
    request gets 200 with a chat completion whose content is ``"ok <n>"`` (n = the request number, from 1).
    """

    def __init__(self, script: list[tuple[int, float, dict]] | None = None) -> None:
        self.script = list(script or [])
        self.count = 0
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                self._send(200, {"object": "list", "data": [{"id": "flaky-model", "object": "model"}]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer.lock:
                    outer.count += 1
                    n = outer.count
                    outer.bodies.append(body)
                    status, delay, headers = outer.script.pop(0) if outer.script else (200, 0.0, {})
                if delay:
                    time.sleep(delay)
                if status == 200:
                    self._send(
                        200,
                        {
                            "id": str(n),
                            "object": "chat.completion",
                            "model": "flaky-model",
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": f"ok {n}"},
                                }
                            ],
                            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                        },
                        headers,
                    )
                else:
                    self._send(status, {"detail": f"scripted {status}"}, headers)

            def _send(self, status, obj, headers=None):
                data = json.dumps(obj).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FlakyServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def first_word_scorer(sample, claim) -> list:
    """A test scorer: answer = first word of the output; exact_match = answer == target (one filter, 'none')."""
    words = (sample.output or "").split()
    answer = words[0] if words else ""
    return [
        sample.model_copy(
            update={"answer": answer, "filter": "none", "scores": {"exact_match": float(answer == sample.target)}}
        )
    ]


def yaml_dump(path: Path, data: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


SUBJECTS = ("bars", "lines", "tables")


def reference_samples(
    task: str = "charts", n: int = 12, *, images: dict[int, bytes] | None = None, image_dir: str = "images"
) -> list:
    """Unscored items: one user question each, three subjects (strata), optional images by sha256."""
    import hashlib

    from assay.evals.samples import ContentPart, ImageRef, Message, Sample

    out = []
    for i in range(n):
        q = QUESTIONS[i % len(QUESTIONS)]
        if images and i in images:
            sha = hashlib.sha256(images[i]).hexdigest()
            content = [
                ContentPart(
                    type="image", image=ImageRef(sha256=sha, media_type="image/png", path=f"{image_dir}/{sha}.png")
                ),
                ContentPart(type="text", text=q),
            ]
        else:
            content = q
        out.append(
            Sample(
                id=str(i),
                task=task,
                input=[Message(role="user", content=content)],
                target="",
                meta={"subject": SUBJECTS[i % len(SUBJECTS)]},
            )
        )
    return out


def publish(
    samples: list,
    backend,
    *,
    sampling,
    repeats: int = 1,
    scorer=first_word_scorer,
    targets_from_outputs=(0, 2, 4, 6, 8, 10),
    whole_output: bool = False,
) -> list:
    """Generate a "published" run of ``samples`` with ``backend`` (assay's own machinery, as a publisher would) and
    score it: items in ``targets_from_outputs`` get their first output word (``whole_output``: the whole output) as
    target (score 1), the others a target no output starts with (score 0)."""
    from assay.evals.backends import GenRequest
    from assay.evals.backends import Message as GM

    reqs, owners = [], []
    for s in samples:
        for r in range(repeats):
            msgs = []
            for m in s.input:
                if isinstance(m.content, str):
                    msgs.append(GM(m.role, m.content))
                else:
                    raise AssertionError("publish() takes text samples; build image logs with publish_images()")
            reqs.append(GenRequest(id=f"{s.task}/{s.id}#{r}", messages=tuple(msgs), sampling=sampling))
            owners.append((s, r))
    return _score(owners, backend.generate(reqs), scorer, targets_from_outputs, sampling, whole_output)


def _score(owners, results, scorer, targets_from_outputs, sampling, whole_output: bool = False) -> list:
    out = []
    firsts: dict[str, str] = {}
    for (s, r), res in zip(owners, results):
        assert res.ok, res.error
        if r == 0:
            firsts[s.id] = res.text if whole_output else (res.text.split() or [""])[0]
    for (s, r), res in zip(owners, results):
        target = firsts[s.id] if int(s.id) in targets_from_outputs else "no-such-word"
        base = s.model_copy(
            update={
                "target": target,
                "target_sha256": "",
                "repeat": r,
                "output": res.text,
                "gen_kwargs": {"temperature": sampling.temperature, "max_new_tokens": sampling.max_new_tokens},
            }
        )
        base = type(s).model_validate(base.model_dump())  # recompute the content hashes
        out.extend(scorer(base, None))
    return out


def write_published(path: Path, samples: list) -> str:
    from assay.evals.samples import LogHeader, write_log

    path.parent.mkdir(parents=True, exist_ok=True)
    header = LogHeader(
        source_format="assay", harness="publisher", model="tiny", tasks=sorted({s.task for s in samples})
    )
    return write_log(path, header, samples)


def make_release(root: Path, model_dir: Path, evals: list[dict], *, name: str = "tiny-text") -> Path:
    """A release folder ``root/release`` (a copy of ``model_dir`` + whatever is already in it) packaged by assay init
    with ``assay.yaml`` beside it, the ``evals`` section added and the lock refreshed.  Returns the manifest path."""
    import shutil

    import yaml

    from assay.audit.locking import lock_release
    from assay.audit.packaging import init_release

    rel = root / "release"
    rel.mkdir(parents=True, exist_ok=True)
    for p in model_dir.iterdir():
        if p.is_file() and not (rel / p.name).exists():
            shutil.copy2(p, rel / p.name)
    res = init_release(rel, out=root, name=name, force=True)
    assert res.ok, res.findings
    manifest = root / "assay.yaml"
    data = yaml.safe_load(manifest.read_text())
    data["evals"] = evals
    yaml_dump(manifest, data)
    lock = lock_release(manifest)
    assert lock.ok
    return manifest


def set_evals(manifest: Path, evals: list[dict], *, release_dir: str = "release") -> None:
    """Replace the manifest's evals, re-pin every artifact's size and sha256 as they are now, re-lock."""
    import yaml

    from assay.audit.locking import lock_release

    data = yaml.safe_load(manifest.read_text())
    data["evals"] = evals
    for art in data.get("artifacts", []):
        p = manifest.parent / release_dir / art["path"]
        art["size"], art["sha256"] = p.stat().st_size, file_sha256(p)
    yaml_dump(manifest, data)
    assert lock_release(manifest).ok


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
