"""Every ```python snippet in README.md and docs/ runs, page by page, as a reader runs it.

How a page runs: its snippets are taken in order and executed in one fresh namespace, in an
empty temporary directory of its own (so `directory="runs"` stays there), with
`KT_NASREPAIR_OFFLINE=1`. Nothing is defined for them: a page defines (or loads, offline)
every name it uses before using it, so pasting a page's snippets in order into a fresh Python
session works. NOTE: the pages share one Python process, one after another (a fresh process
per page cost a TensorFlow import each, about 8 s); a namespace is never shared, so a name one
page defines is still undefined on the next.

The one change made to the text keeps the runs short: SIZE_RULES turn `max_trials=<n>` into
`max_trials=2` and `epochs=<n>` into `epochs=1`.

A snippet that is not code to run (a signature display) is marked by the HTML comment
`<!-- snippet: skip REASON -->` (invisible on the site) on the line before its fence; each one
is listed in KNOWN_SKIPS with its reason, and a test fails when the two disagree.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SIZE_RULES = [(r"\bmax_trials=\d+", "max_trials=2"), (r"(?<![\w/])epochs=\d+", "epochs=1")]
# (page, reason) of every snippet that is deliberately not run.
KNOWN_SKIPS = {
    ("docs/search_space.md", "the constructor's signature with its defaults, not a call"),
}
PAGE_TIMEOUT_S = 300  # per page

RUNNER = '''
import json, os, sys, traceback
pages, results_path = json.load(open(sys.argv[1])), sys.argv[2]
results = {}
for page, run in pages.items():
    os.chdir(run["cwd"])
    namespace = {"__name__": "__main__"}  # a fresh session: nothing defined beforehand
    results[page] = {"ok": True}
    for snippet in run["snippets"]:
        print(f"--- {snippet['where']}", flush=True)
        try:
            exec(compile(snippet["code"], snippet["where"], "exec"), namespace)
        except Exception:
            results[page] = {"ok": False, "where": snippet["where"],
                             "error": traceback.format_exc()[-4000:]}
            break
    with open(results_path, "w") as f:  # after every page: a crash keeps what ran
        json.dump(results, f)
'''

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_SKIP = re.compile(r"<!--\s*snippet:\s*skip\s+(.*?)\s*-->\s*$", re.S)


def extract(text: str, page: str) -> list[dict]:
    """The page's snippets in order: `{"kind": "run"|"skip", "code", "where", ...}`."""
    snippets = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = _SKIP.search(before)
        snippet = {"kind": "skip" if skip else "run", "code": match.group(1),
                   "where": f"{page}:{line}"}
        if skip:
            snippet["reason"] = skip.group(1)
        snippets.append(snippet)
    return snippets


def patch_sizes(code: str) -> str:
    for pattern, replacement in SIZE_RULES:
        code = re.sub(pattern, replacement, code)
    return code


def _relative(page: pathlib.Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _pages_with_snippets():
    return [_relative(p) for p in PAGES
            if any(s["kind"] == "run" for s in extract(p.read_text(), _relative(p)))]


def test_extract_reads_fences_and_markers_in_order():
    text = ("x\n```python\na = 1\n```\n"
            "<!-- snippet: skip just a signature -->\n```python\nf(a, b=...)\n```\n"
            "```bash\nls\n```\n```python\nprint(a, epochs=10, max_trials=30)\n```\n")
    snippets = extract(text, "p.md")
    assert [s["kind"] for s in snippets] == ["run", "skip", "run"]
    assert snippets[0]["code"] == "a = 1\n" and snippets[0]["where"] == "p.md:2"
    assert snippets[1]["reason"] == "just a signature"
    assert patch_sizes(snippets[2]["code"]) == "print(a, epochs=1, max_trials=2)\n"
    assert patch_sizes('hp["tuner/epochs=3"], initial_epochs=4') == (
        'hp["tuner/epochs=3"], initial_epochs=4')


def test_every_skip_is_listed_with_its_reason():
    found = {(_relative(p), s["reason"]) for p in PAGES
             for s in extract(p.read_text(), _relative(p)) if s["kind"] == "skip"}
    assert found == KNOWN_SKIPS
    assert all(reason.strip() for _, reason in found)


def test_readme_and_the_snippet_pages_are_all_collected():
    pages = _pages_with_snippets()
    for page in ["README.md", "docs/quickstart.md", "docs/oracles.md", "docs/morph.md",
                 "docs/neural_repair.md", "docs/guides/custom_oracle.md"]:
        assert page in pages


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory):
    """Runs every page's snippets in one subprocess; `{page: {"ok", "where", "error"}}`."""
    root = tmp_path_factory.mktemp("snippets")
    pages = {}
    for page in _pages_with_snippets():
        cwd = root / page.replace("/", "_")
        cwd.mkdir()
        pages[page] = {"cwd": str(cwd), "snippets": [
            dict(s, code=patch_sizes(s["code"]))
            for s in extract((ROOT / page).read_text(), page) if s["kind"] == "run"]}
    (root / "pages.json").write_text(json.dumps(pages))
    (root / "runner.py").write_text(RUNNER)
    env = dict(os.environ, KT_NASREPAIR_OFFLINE="1", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="2")
    results_path = root / "results.json"
    result = subprocess.run([sys.executable, str(root / "runner.py"), str(root / "pages.json"),
                             str(results_path)], cwd=root, env=env, capture_output=True,
                            text=True, timeout=PAGE_TIMEOUT_S * len(pages))
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    return results, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("page", _pages_with_snippets())
def test_page_snippets_run(page, page_runs):
    results, output = page_runs
    assert page in results, f"the runner stopped before {page}:\n{output}"
    outcome = results[page]
    assert outcome["ok"], f"{outcome['where']} failed:\n{outcome['error']}"
