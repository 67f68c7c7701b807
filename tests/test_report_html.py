"""report.html opens with the verdict and the findings; its long tables are collapsed and filterable (issue #13).

The demo release is audited twice, once per module (about 30 s each): the honest manifest (``assay.yaml``, passes)
and the failing variant (``assay.failing.yaml``) whose two planted findings are derived here from
``tests/demo/make_manifests.py`` (what ``failing()`` changes in the honest manifest), not hard-coded: the demo's
scores may change when the demo model is retrained.  The reports are rendered by Debian's ``chromium`` in headless
mode (``--dump-dom``: the DOM after the page's script ran), with and without JavaScript; nothing is mocked.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import DEMO, ROOT, run_assay

from assay.audit.model import AuditReport
from assay.audit.render import to_html, to_markdown
from assay.manifests.yamlio import read_yaml_file

FAILING = {"fail", "error", "inconclusive", "not-checked"}


def planted_findings() -> list[str]:
    """The claim ids make_manifests.py's ``failing()`` plants: each artifact it serves from another source
    (``file:<path>``) and each eval whose published value it changes (``eval:<name>``)."""
    spec = importlib.util.spec_from_file_location("make_manifests", ROOT / "tests" / "demo" / "make_manifests.py")
    assert spec and spec.loader
    mm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mm)
    honest, _ = read_yaml_file(DEMO / "assay.yaml")
    bad = mm.failing(copy.deepcopy(honest))
    was = {a["path"]: a.get("source") for a in honest["artifacts"]}
    files = [f"file:{a['path']}" for a in bad["artifacts"] if a.get("source") != was.get(a["path"])]
    published = {e["name"]: e["published"] for e in honest["evals"]}
    evals = [f"eval:{e['name']}" for e in bad["evals"] if e["published"] != published.get(e["name"])]
    assert len(files) == 1 and len(evals) == 1, (files, evals)  # the demo's story: one swapped file, one overclaim
    return files + evals


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def find(self, pred) -> list[Node]:
        return [n for n in self.walk() if pred(n)]

    def by_id(self, ident: str) -> Node | None:
        return next((n for n in self.walk() if n.attrs.get("id") == ident), None)

    def ancestor(self, tag: str) -> Node | None:
        p = self.parent
        while p is not None and p.tag != tag:
            p = p.parent
        return p

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)


class _Dom(HTMLParser):
    """A small DOM of Chromium's serialised page (html.parser is in the standard library; the page is well formed)."""

    VOID = {"meta", "input", "br", "link", "img", "hr", "source", "wbr", "col", "area", "base", "embed"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), parent=self.cur)
        self.cur.children.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(Node("#text", {}, parent=self.cur, text=data))


def parse(html: str) -> Node:
    p = _Dom()
    p.feed(html)
    return p.root


def chromium_dom(url: str, profile: Path) -> Node:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed for this test (tests/run.sh installs it)"
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "<body" in proc.stdout, proc.stderr[-2000:]
    return parse(proc.stdout)


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    """Both demo audits, run once by the real CLI: {"pass": out folder, "fail": out folder}."""
    base = tmp_path_factory.mktemp("report-html")
    release = base / "tiny-vlm"
    shutil.copytree(DEMO, release, ignore=shutil.ignore_patterns("__pycache__"))
    env = {"ASSAY_STATE_DIR": str(base / "state"), "ASSAY_KEY_DIR": str(base / "keys")}
    outs = {}
    for name, manifest, rc in (("pass", "assay.yaml", 0), ("fail", "assay.failing.yaml", 1)):
        out = base / name
        proc = run_assay("audit", str(release / manifest), "--out", str(out), env=env)
        assert proc.returncode == rc, proc.stdout[-3000:] + proc.stderr[-3000:]
        outs[name] = out
    return outs


def report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def order_of(dom: Node, *ids: str) -> list[int]:
    """Document positions of the elements with these ids (each must exist)."""
    pos = {n.attrs.get("id"): i for i, n in enumerate(dom.walk()) if n.attrs.get("id")}
    missing = [i for i in ids if i not in pos]
    assert not missing, f"no element with id {missing}"
    return [pos[i] for i in ids]


def finding_articles(dom: Node) -> list[Node]:
    findings = dom.by_id("findings")
    assert findings is not None and findings.tag == "section"
    return findings.find(lambda n: n.tag == "article" and "data-claim" in n.attrs)


def table_rows(dom: Node, table_id: str) -> list[Node]:
    box = dom.by_id(table_id)
    assert box is not None, table_id
    return box.find(lambda n: n.tag == "tr" and "data-verdict" in n.attrs)


def test_failing_report_opens_with_verdict_and_findings_before_the_files(audits, tmp_path):
    planted = planted_findings()
    dom = chromium_dom((audits["fail"] / "report.html").as_uri(), tmp_path / "profile")
    verdict = dom.by_id("verdict")
    assert verdict is not None and verdict.all_text().strip() == "FAIL"
    # the verdict, then the findings, and only then the steps, the claims and the (collapsed) files table
    v, f, s, c, files = order_of(dom, "verdict", "findings", "steps", "claims", "files")
    assert v < f < s < c < files
    assert dom.by_id("files").tag == "details" and "open" not in dom.by_id("files").attrs
    articles = {a.attrs["data-claim"]: a for a in finding_articles(dom)}
    for claim in planted:
        assert claim in articles, f"planted finding {claim} missing from the findings section"
        assert articles[claim].attrs["data-verdict"] == "fail"
        # its link leads to its detail row, in the files table or the claims table
        [link] = articles[claim].find(lambda n: n.tag == "a")
        row = dom.by_id(link.attrs["href"].removeprefix("#"))
        assert row is not None and row.tag == "tr" and claim.split(":", 1)[1] in row.all_text()
    # the file finding shows the two hashes side by side, the differing row marked
    lock_sha = next(
        a["sha256"]
        for a in read_yaml_file(DEMO / "assay.failing.yaml")[0]["artifacts"]
        if f"file:{a['path']}" == planted[0]
    )
    differs = articles[planted[0]].find(lambda n: n.tag == "tr" and n.attrs.get("class") == "differs")
    assert len(differs) == 1 and lock_sha in differs[0].all_text()
    # every claim that fails the audit, and every attested one, is a finding; nothing that passed is
    r = report(audits["fail"])
    expected = {x["id"]: x["verdict"] for x in r["claims"] if x["verdict"] != "pass"}
    assert {k: a.attrs["data-verdict"] for k, a in articles.items()} == expected
    # failing ones first, attested ones after
    verdicts = [a.attrs["data-verdict"] for a in finding_articles(dom)]
    assert verdicts.index("attested") > max(i for i, x in enumerate(verdicts) if x in FAILING)


def test_passing_report_says_pass_first_with_no_failing_findings(audits, tmp_path):
    dom = chromium_dom((audits["pass"] / "report.html").as_uri(), tmp_path / "profile")
    verdict = dom.by_id("verdict")
    assert verdict is not None and verdict.all_text().strip() == "PASS"
    assert order_of(dom, "verdict", "findings", "files") == sorted(order_of(dom, "verdict", "findings", "files"))
    first_text = next(n for n in dom.by_id("verdict").ancestor("body").walk() if n.tag == "#text" and n.text.strip())
    assert first_text.text.strip() == "PASS"  # the first words on the page
    assert dom.by_id("no-findings") is not None
    articles = finding_articles(dom)
    assert not [a for a in articles if a.attrs["data-verdict"] in FAILING]
    assert len(articles) == report(audits["pass"])["counts"]["attested"]  # attested only: listed, not failing


def test_filters_and_finding_links_in_chromium(audits, tmp_path):
    """The verdict and text filters (set from the address) hide rows; a finding's link opens its collapsed table."""
    planted_file = planted_findings()[0]
    page = (audits["fail"] / "report.html").as_uri()
    r = report(audits["fail"])
    n_files = sum(c["kind"] == "file" for c in r["claims"])

    dom = chromium_dom(page, tmp_path / "p0")
    rows = table_rows(dom, "files")
    assert len(rows) == n_files and not [x for x in rows if "hidden" in x.attrs]  # no filter: every row shown
    bar = dom.by_id("files").find(lambda n: n.attrs.get("class") == "filter")[0]
    assert "hidden" not in bar.attrs  # the script showed the filter bar

    dom = chromium_dom(page + "?verdict=fail", tmp_path / "p1")
    shown = [x for x in table_rows(dom, "files") if "hidden" not in x.attrs]
    assert [x.attrs["data-verdict"] for x in shown] == ["fail"]
    assert planted_file.split(":", 1)[1] in shown[0].all_text()
    assert "open" in dom.by_id("files").attrs  # a filter from the address opens the table it filters
    output = dom.by_id("files").find(lambda n: n.tag == "output")[0]
    assert output.all_text() == f"1 of {n_files} shown"
    shown_claims = [x for x in table_rows(dom, "claims") if "hidden" not in x.attrs]
    assert {x.attrs["data-verdict"] for x in shown_claims} == {"fail"}

    name = planted_file.split(":", 1)[1]
    dom = chromium_dom(page + "?q=" + name.upper(), tmp_path / "p2")  # case-insensitive
    shown = [x for x in table_rows(dom, "files") if "hidden" not in x.attrs]
    assert len(shown) == 1 and name in shown[0].all_text()

    # follow the file finding's link: the collapsed files table opens on its row
    dom = chromium_dom(page, tmp_path / "p3")
    article = next(a for a in finding_articles(dom) if a.attrs["data-claim"] == planted_file)
    href = article.find(lambda n: n.tag == "a")[0].attrs["href"]
    dom = chromium_dom(page + href, tmp_path / "p4")
    assert "open" in dom.by_id("files").attrs and dom.by_id(href[1:]).ancestor("details") is dom.by_id("files")


def test_report_without_javascript_is_complete(audits, tmp_path):
    """No script: every row is in the page (the tables expand by hand), no row hidden, the filter bars stay hidden.

    Chromium's --dump-dom needs JavaScript on (it reads the DOM through it), so the page's own scripts are blocked
    instead, as a browser with JavaScript off would: a copy with a Content-Security-Policy of ``script-src 'none'``.
    """
    r = report(audits["fail"])
    page = (audits["fail"] / "report.html").read_text()
    assert page.count("<head>") == 1
    blocked = tmp_path / "report.nojs.html"
    blocked.write_text(
        page.replace("<head>", '<head><meta http-equiv="Content-Security-Policy" content="script-src \'none\'">')
    )
    dom = chromium_dom(blocked.as_uri(), tmp_path / "profile")
    assert dom.by_id("files").find(lambda n: n.tag == "output")[0].all_text() == ""  # the script did not run
    files, claims = table_rows(dom, "files"), table_rows(dom, "claims")
    assert len(files) == sum(c["kind"] == "file" for c in r["claims"])
    assert len(claims) == sum(c["kind"] != "file" for c in r["claims"])
    assert not [x for x in files + claims if "hidden" in x.attrs]
    bars = dom.find(lambda n: n.attrs.get("class") == "filter")
    assert bars and all("hidden" in b.attrs for b in bars)
    text = dom.all_text()
    assert all(c["id"] in text for c in r["claims"] if c["kind"] != "file")
    assert all(c["subject"] in text for c in r["claims"] if c["kind"] == "file")
    # the summary of the collapsed files table gives its counts
    summary = dom.by_id("files").find(lambda n: n.tag == "summary")[0].all_text()
    assert summary.startswith(f"{len(files)} files") and "1 fail" in summary


def test_html_is_self_contained_and_embeds_the_report_json(audits):
    html = (audits["fail"] / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing loaded from anywhere
    assert "<link" not in html and "<script src" not in html
    m = re.search(r'<script type="application/json" id="assay-report">(.*?)</script>', html, re.S)
    assert m is not None
    assert json.loads(m.group(1)) == report(audits["fail"])


def test_hostile_strings_stay_text(audits):
    """A release's strings cannot end the embedded JSON or add markup (they are escaped both in HTML and JSON)."""
    r = AuditReport.model_validate(report(audits["fail"]))
    evil = '</script><script>alert(1)</script><img src=x onerror=alert(2)> & "q"'
    r.claims[0].message = evil
    r.claims[0].declared = {"sha256": evil}
    html = to_html(r)
    assert html.count("<script") == 2 and "<img" not in html
    m = re.search(r'<script type="application/json" id="assay-report">(.*?)</script>', html, re.S)
    assert m is not None and json.loads(m.group(1))["claims"][0]["message"] == evil
    dom = parse(html)
    assert any(n.text and evil in n.text for n in dom.walk() if n.tag == "#text")  # shown as text


def test_markdown_has_the_same_order(audits):
    planted = planted_findings()
    md = (audits["fail"] / "report.md").read_text()
    verdict, findings, steps, claims, files = (
        md.index(h) for h in ("**Verdict: FAIL**", "## Findings", "## Steps", "## Claims", "## Files")
    )
    assert verdict < findings < steps < claims < files
    section = md[findings:steps]
    for claim in planted:
        assert f"`{claim}`" in section
    assert "<details><summary>" in md[files:]  # the files table is collapsed where markdown renders HTML
    passing = (audits["pass"] / "report.md").read_text()
    assert passing.index("**Verdict: PASS**") < passing.index("No failing findings") < passing.index("## Steps")
    # rendering the saved report again gives the same files (the renderers are pure functions of the report)
    r = AuditReport.model_validate(report(audits["fail"]))
    assert to_markdown(r) == md


def test_many_findings_show_the_first_and_collapse_the_rest(audits):
    """A release that was not pulled has a not-checked finding per file: the first SHOWN_FINDINGS are shown in full,
    the rest collapsed under their count, in report.html and report.md alike; every one keeps its link."""
    from assay.audit.report_view import SHOWN_FINDINGS

    r = AuditReport.model_validate(report(audits["fail"]))
    template = next(c for c in r.claims if c.id.startswith("file:") and c.verdict == "pass")
    extra = SHOWN_FINDINGS + 7
    for i in range(extra):
        r.claims.append(
            template.model_copy(
                update={
                    "id": f"file:shard-{i}",
                    "subject": f"shard-{i}",
                    "verdict": "not-checked",
                    "needs": ["network"],
                }
            )
        )
    failing = [c for c in r.claims if c.verdict in FAILING]
    dom = parse(to_html(r))
    articles = finding_articles(dom)
    assert len(articles) == len(failing) + r.counts.attested
    in_more = [a for a in articles if (d := a.ancestor("details")) is not None and d.attrs.get("class") == "more"]
    assert len(in_more) == len(failing) - SHOWN_FINDINGS  # the failing group overflows; the attested one does not
    summary = in_more[0].ancestor("details").find(lambda n: n.tag == "summary")[0].all_text()
    assert summary.startswith(f"{len(failing) - SHOWN_FINDINGS} more failing findings")
    for a in articles:  # every finding, shown or collapsed, links to a row that exists
        href = a.find(lambda n: n.tag == "a")[0].attrs["href"]
        assert dom.by_id(href[1:]) is not None and dom.by_id(href[1:]).tag == "tr"
    md = to_markdown(r)
    assert f"{len(failing) - SHOWN_FINDINGS} more failing findings" in md and "`file:shard-0`" in md


def test_the_scores_chart_shows_real_scores_with_their_intervals(audits):
    """The trained demo scores above zero; each re-run point carries its score's own CI over its 40 items (Wilson:
    the items score 0 or 1), which holds the published value; the failing variant's chart-QA claim is far from
    what its logs recompute.  The chart in report.html draws every interval."""
    steps = {s["name"]: s for s in report(audits["pass"])["steps"]}
    points = steps["rerun"]["summary"]["scores"]
    assert {p["name"] for p in points} == {"chartqa-mini", "textqa-mini"}
    for p in points:
        assert p["n"] == 40 and p["reproduced"] > 0, p
        assert p["ci_low"] < p["reproduced"] < p["ci_high"] and p["ci_high"] - p["ci_low"] > 5, p
        assert p["ci_low"] <= p["published"] <= p["ci_high"], p
    html = (audits["pass"] / "report.html").read_text()
    assert html.count("<line") >= len(points)  # an error bar per re-run point
    bad = {s["name"]: s for s in report(audits["fail"])["steps"]}["rescore"]["summary"]["scores"]
    (chart,) = [p for p in bad if p["name"].startswith("chartqa-mini")]
    assert chart["published"] - chart["reproduced"] >= 15, chart
