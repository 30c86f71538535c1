"""Every ```python snippet in README.md and docs/ runs, page by page, on small offline data.

How a page runs: its snippets are taken in order and executed in one namespace, in a fresh
Python process (one per page, with a timeout), in an empty temporary directory (so
`directory="runs"` stays there), with `KT_NASREPAIR_OFFLINE=1`. Before the first snippet the
PREAMBLE below provides the names the pages assume without defining them:

- `x, y` (= `x_train, y_train`): 400 training digits of `load_mnist("mnist-5k")` (784 features,
  one-hot labels); `x_val, y_val`: the next 200; `x_test, y_test`: 200 test digits (loaded once
  per test session and saved, so each page only reads a small file);
- `build_model(hp)`: the quickstart's `build_model` (1-3 Dense ReLU layers on 784 inputs);
- `kt_nasrepair.datasets.load_mnist` returns those same arrays (for `"digits"`, or unflattened
  or integer labels: the real source cut to 400 training and 200 test samples), so a snippet
  that loads data itself stays small and offline.

Sizes are patched down by SIZE_RULES (applied to the snippet text): `max_trials=<n>` becomes
`max_trials=2` and `epochs=<n>` becomes `epochs=1`.

Markers, written as HTML comments (invisible on the site) on the line before a fence:

- `<!-- snippet: skip REASON -->`: the next snippet is not run. Only for fragments that are not
  code to run (a signature display); each one is listed in KNOWN_SKIPS with its reason, and a
  test fails when the two disagree.
- `<!-- snippet: setup ... -->` (the code between `setup` and `-->`): hidden code run at that
  point, for a name the reader is meant to bring along.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SIZE_RULES = [(r"\bmax_trials=\d+", "max_trials=2"), (r"(?<![\w/])epochs=\d+", "epochs=1")]
# (page, reason) of every snippet that is deliberately not run.
KNOWN_SKIPS = {
    ("docs/search_space.md", "the constructor's signature with its defaults, not a call"),
}
PAGE_TIMEOUT_S = 300

PREAMBLE = '''
import keras
import keras_tuner
import numpy as np

from kt_nasrepair import datasets as _datasets

keras.utils.set_random_seed(0)
_data = np.load(DATA_PATH)  # written once per test session by the `snippet_data` fixture
x, y, x_val, y_val = _data["x"], _data["y"], _data["x_val"], _data["y_val"]
x_train, y_train, x_test, y_test = x, y, _data["x_test"], _data["y_test"]
_original_load_mnist = _datasets.load_mnist


def _small_load_mnist(source="auto", flatten=True, one_hot=True):
    if source == "digits" or not flatten or not one_hot:
        (x_a, y_a), (x_b, y_b) = _original_load_mnist(source, flatten, one_hot)
        return (x_a[:400], y_a[:400]), (x_b[:200], y_b[:200])
    return (x, y), (x_test, y_test)  # offline, "auto" and "keras" give these too


_datasets.load_mnist = _small_load_mnist


def build_model(hp):
    model = keras.Sequential([keras.Input(shape=(784,))])
    for _ in range(hp.Int("num_layers", 1, 3)):
        model.add(keras.layers.Dense(hp.Int("units", 32, 256, step=32), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model
'''

RUNNER = '''
import json, sys, traceback
snippets = json.load(open(sys.argv[1]))
namespace = {"__name__": "__snippets__"}
exec(compile(snippets["preamble"], "<preamble>", "exec"), namespace)
for snippet in snippets["run"]:
    print(f"--- {snippet['where']}", flush=True)
    try:
        exec(compile(snippet["code"], snippet["where"], "exec"), namespace)
    except Exception:
        traceback.print_exc()
        print(f"SNIPPET FAILED: {snippet['where']}", flush=True)
        sys.exit(1)
print("ALL SNIPPETS RAN", flush=True)
'''

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
_SKIP = re.compile(r"<!--\s*snippet:\s*skip\s+(.*?)\s*-->\s*$", re.S)
_SETUP = re.compile(r"<!--\s*snippet:\s*setup\s*\n(.*?)-->", re.S)


def extract(text: str, page: str) -> list[dict]:
    """The page's snippets in order: `{"kind": "run"|"skip"|"setup", "code", "where", ...}`."""
    events = []
    for match in _SETUP.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        events.append((match.start(), {"kind": "setup", "code": textwrap.dedent(match.group(1)),
                                       "where": f"{page}:{line} (setup)"}))
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = _SKIP.search(before)
        snippet = {"kind": "skip" if skip else "run", "code": match.group(1),
                   "where": f"{page}:{line}"}
        if skip:
            snippet["reason"] = skip.group(1)
        events.append((match.start(), snippet))
    return [snippet for _, snippet in sorted(events, key=lambda event: event[0])]


def patch_sizes(code: str) -> str:
    for pattern, replacement in SIZE_RULES:
        code = re.sub(pattern, replacement, code)
    return code


def _relative(page: pathlib.Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _pages_with_snippets():
    return [_relative(p) for p in PAGES
            if any(s["kind"] == "run" for s in extract(p.read_text(), _relative(p)))]


def test_extract_reads_fences_markers_and_setup_in_order():
    text = ("x\n```python\na = 1\n```\n<!-- snippet: setup\nb = a + 1\n-->\n"
            "<!-- snippet: skip just a signature -->\n```python\nf(a, b=...)\n```\n"
            "```bash\nls\n```\n```python\nprint(b, epochs=10, max_trials=30)\n```\n")
    snippets = extract(text, "p.md")
    assert [s["kind"] for s in snippets] == ["run", "setup", "skip", "run"]
    assert snippets[0]["code"] == "a = 1\n" and snippets[0]["where"] == "p.md:2"
    assert snippets[1]["code"] == "b = a + 1\n"
    assert snippets[2]["reason"] == "just a signature"
    assert patch_sizes(snippets[3]["code"]) == "print(b, epochs=1, max_trials=2)\n"
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


@pytest.fixture(scope="session")
def snippet_data(tmp_path_factory):
    """The preamble's arrays: 400 + 200 training and 200 test digits of mnist-5k, one-hot."""
    from kt_nasrepair.datasets import load_mnist

    (x_all, y_all), (x_test, y_test) = load_mnist("mnist-5k")
    path = tmp_path_factory.mktemp("snippet_data") / "mnist_small.npz"
    np.savez(path, x=x_all[:400], y=y_all[:400], x_val=x_all[400:600], y_val=y_all[400:600],
             x_test=x_test[:200], y_test=y_test[:200])
    return path


@pytest.mark.slow
@pytest.mark.parametrize("page", _pages_with_snippets())
def test_page_snippets_run(page, tmp_path, snippet_data):
    snippets = extract((ROOT / page).read_text(), page)
    payload = {"preamble": f"DATA_PATH = {str(snippet_data)!r}\n" + PREAMBLE,
               "run": [dict(s, code=patch_sizes(s["code"])) for s in snippets
                       if s["kind"] in ("run", "setup")]}
    (tmp_path / "snippets.json").write_text(json.dumps(payload))
    (tmp_path / "runner.py").write_text(RUNNER)
    env = dict(os.environ, KT_NASREPAIR_OFFLINE="1", PYTHONPATH=str(ROOT),
               TF_CPP_MIN_LOG_LEVEL="2")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run([sys.executable, str(tmp_path / "runner.py"),
                             str(tmp_path / "snippets.json")], cwd=work, env=env,
                            capture_output=True, text=True, timeout=PAGE_TIMEOUT_S)
    output = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0 and "ALL SNIPPETS RAN" in result.stdout, output
