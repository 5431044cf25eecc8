"""Deterministic stand-ins for model-driven tools, for the demo and the tests.

Run by the `script` adapter as `python -m ainarres.agents.scripted ROLE`, in the job's
working folder, with the job folder in $AINARRES_JOB_DIR. They follow the same protocol a
real tool is prompted to follow, and they do real work: the implementer writes working
code and tests into sandbox-repo, the reviewer reads the diff and checks for tests.

$AINARRES_SCRIPT_DELAY (seconds, default 0) makes each step take a while, so that a person
watching the demo's board sees two reviewers at work at the same instant.

With `reviewer --mcp`, the reviewer gives its annotations and verdict through the claim's
MCP endpoint (agents/claim_mcp.py) instead of a result file, as an MCP-speaking tool does.

A reviewer of known quality, for canaries (ADR 0018): `reviewer --recall 0.9 [--recall
KIND=0.5 ...] [--seed N]`. It finds a deviation the way a careful reviewer of this project
would, from what it can see: the checkout differs from the code the feature calls for, and
the defect catalogue names the kind. Then it notices P of the deviations it sees, spread
evenly: a running tally in its home ($HOME/.ainarres-scripted-tally.json, one per recall
key) carries the fraction from job to job, so after n deviations it has noticed floor(n*P +
phase), the phase drawn from the seed. Noticed, it returns the task with an annotation on
the line; not noticed, it approves. It knows nothing of canaries: a deviation in real work
would be treated the same. The tally is also its own record of what it noticed, for a test
to hold the board's catch figures against. (Independent draws made the demo a lottery:
governance demotes at a miss share of half over ten, and a reviewer of recall 0.3 catches
five of ten about one run in seven.)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ainarres.canary import catalogue

FEATURE_TAG = "feature:"

FEATURES: dict[str, dict[str, str]] = {
    "sentence": {
        "title": "Count sentences",
        "body": "Add sandbox.sentences.sentence_count(text) -> int, using "
        "sandbox.tokenize.sentences, with tests.",
        "module": "sandbox/sentences.py",
        "code": '''"""How many sentences a text has."""

from __future__ import annotations

from sandbox.tokenize import sentences


def sentence_count(text: str) -> int:
    """Return the number of sentences in ``text`` (0 for blank text)."""
    return len(sentences(text))
''',
        "test": "tests/test_sentences.py",
        "test_code": """import unittest

from sandbox.sentences import sentence_count


class SentenceCountTest(unittest.TestCase):
    def test_counts_each_ending(self) -> None:
        self.assertEqual(sentence_count("One. Two! Three?"), 3)

    def test_blank_text_has_none(self) -> None:
        self.assertEqual(sentence_count("   "), 0)
""",
    },
    "vocabulary": {
        "title": "Measure vocabulary",
        "body": "Add sandbox.vocabulary.unique_word_count(text) and type_token_ratio(text), "
        "case-insensitive, with tests.",
        "module": "sandbox/vocabulary.py",
        "code": '''"""How varied the words of a text are."""

from __future__ import annotations

from sandbox.tokenize import words


def unique_word_count(text: str) -> int:
    """Return how many different words ``text`` uses, ignoring case."""
    return len(set(words(text)))


def type_token_ratio(text: str) -> float:
    """Return unique words / all words, or 0.0 for a text without words."""
    found = words(text)
    return len(set(found)) / len(found) if found else 0.0
''',
        "test": "tests/test_vocabulary.py",
        "test_code": """import unittest

from sandbox.vocabulary import type_token_ratio, unique_word_count


class VocabularyTest(unittest.TestCase):
    def test_unique_ignores_case(self) -> None:
        self.assertEqual(unique_word_count("The cat and the hat"), 4)

    def test_ratio(self) -> None:
        self.assertEqual(type_token_ratio("a a b b"), 0.5)
        self.assertEqual(type_token_ratio(""), 0.0)
""",
    },
    "longest": {
        "title": "Find the longest words",
        "body": "Add sandbox.longest.longest_words(text, n) returning the n longest distinct "
        "words, longest first, ties alphabetical, with tests.",
        "module": "sandbox/longest.py",
        "code": '''"""The longest words of a text."""

from __future__ import annotations

from sandbox.tokenize import words


def longest_words(text: str, n: int) -> list[str]:
    """Return the ``n`` longest distinct words, longest first, ties alphabetical."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return sorted(set(words(text)), key=lambda word: (-len(word), word))[:n]
''',
        "test": "tests/test_longest.py",
        "test_code": """import unittest

from sandbox.longest import longest_words


class LongestWordsTest(unittest.TestCase):
    def test_longest_first_ties_alphabetical(self) -> None:
        self.assertEqual(longest_words("a bb cc ddd", 3), ["ddd", "bb", "cc"])

    def test_rejects_negative_n(self) -> None:
        with self.assertRaises(ValueError):
            longest_words("a", -1)
""",
    },
}


def _job() -> tuple[Path, dict[str, Any]]:
    folder = Path(os.environ["AINARRES_JOB_DIR"])
    return folder, json.loads((folder / "job.json").read_text())


def _pause() -> None:
    time.sleep(float(os.environ.get("AINARRES_SCRIPT_DELAY", "0")))


def design() -> int:
    """Split a brief into the features it names (all three when it names none)."""
    folder, job = _job()
    text = f"{job['task']['title']}\n{job['task']['body']}".lower()
    chosen = [key for key in FEATURES if key in text] or list(FEATURES)
    tasks = [{"title": FEATURES[k]["title"],
              "body": f"{FEATURES[k]['body']}\n\n{FEATURE_TAG} {k}", "depends_on": []}
             for k in chosen]  # fmt: skip
    _pause()
    (folder / "result.json").write_text(json.dumps({"tasks": tasks}, indent=2))
    return 0


def implement() -> int:
    """Write the feature's module and its tests into the worktree."""
    _, job = _job()
    body = job["task"]["body"]
    key = next((ln.split(FEATURE_TAG, 1)[1].strip() for ln in body.splitlines()
                if ln.startswith(FEATURE_TAG)), None)  # fmt: skip
    if key not in FEATURES:
        print(f"no known feature in the task body: {key!r}", file=sys.stderr)
        return 1
    feature = FEATURES[key]
    for path, code in (
        (feature["module"], feature["code"]),
        (feature["test"], feature["test_code"]),
    ):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(code)
    _pause()
    return 0


def _deviations(paths: list[str]) -> list[tuple[str, catalogue.Difference]]:
    """Where the checkout differs from the feature code written for its paths."""
    expected = {f[kind]: f[code] for f in FEATURES.values()
                for kind, code in (("module", "code"), ("test", "test_code"))}  # fmt: skip
    rules = catalogue.load()
    found = []
    for path in paths:
        seen = Path(path)
        if path in expected and seen.is_file():
            found += [(path, d) for d in catalogue.recognise(rules, expected[path],
                                                             seen.read_text())]  # fmt: skip
    return found


TALLY = ".ainarres-scripted-tally.json"


def _notices(recall: Mapping[str, float], kind: str, seed: int) -> bool:
    """Whether this deviation is noticed: the tally for its recall key moves by the recall
    and notices when it crosses a whole number (see the module docstring)."""
    key = kind if kind in recall else ""
    chance = recall.get(key, 0.0)
    path = Path(os.environ.get("HOME", ".")) / TALLY
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two instances of one family share the home
        f.seek(0)
        text = f.read()
        tally: dict[str, dict[str, float]] = json.loads(text) if text.strip() else {}
        phase = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8]) / 2**64
        entry = tally.setdefault(key, {"seen": 0, "noticed": 0, "level": phase})
        entry["seen"] += 1
        entry["level"] += chance
        hit = entry["level"] >= 1.0
        if hit:
            entry["level"] -= 1.0
            entry["noticed"] += 1
        f.seek(0)
        f.truncate()
        f.write(json.dumps(tally))
    return hit


def read_tally(home: Path) -> dict[str, dict[str, float]]:
    """A scripted reviewer's tally (seen, noticed per recall key), from its home."""
    path = home / TALLY
    return json.loads(path.read_text()) if path.is_file() else {}


def review(recall: Mapping[str, float] | None = None, seed: int = 0, use_mcp: bool = False
           ) -> int:  # fmt: skip
    """Approve a change that adds code with tests; return one without tests. With a recall
    (per defect kind, "" for any), also look for deviations and return what it notices."""
    folder, job = _job()
    diff = json.loads((folder / "diff.json").read_text())
    paths = [f["path"] for f in diff["files"]]
    code = [p for p in paths if p.startswith("sandbox/") and p.endswith(".py")]
    tests = [p for p in paths if p.startswith("tests/test_")]
    _pause()
    noticed = []
    if recall is not None:
        for path, d in _deviations(paths):
            if _notices(recall, d.kind or "", seed):
                what = d.kind or "unexpected change"
                body = f"this looks wrong ({what})"
                noticed.append({"file": path, "line": d.line, "side": "new",
                                "severity": "blocker", "body": body})  # fmt: skip
    if noticed:
        result: dict[str, Any] = {"verdict": "return", "reason": "a defect, see the annotations",
                                  "annotations": noticed}  # fmt: skip
    elif code and tests:
        result = {"verdict": "approve", "reason": "code and tests",
                  "annotations": [{"file": code[0], "line": 1, "side": "new",
                                   "severity": "nit", "body": "docstring reads well"}]}  # fmt: skip
    else:
        result = {"verdict": "return", "reason": "add tests for the new code", "annotations": []}
    if use_mcp:
        return _through_mcp(result)
    (folder / "result.json").write_text(json.dumps(result, indent=2))
    return 0


def _through_mcp(result: dict[str, Any]) -> int:
    """Give the review through the claim's MCP endpoint (the runner's), as an MCP-speaking
    tool would: the SDK's client starts the relay, annotates, then approves or returns."""
    import asyncio

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    relay = StdioServerParameters(command=sys.executable, args=["-m", "ainarres.agents.mcp_relay"],
                                  env=dict(os.environ))  # fmt: skip

    async def talk() -> int:
        async with Client(relay) as client:
            for note in result["annotations"]:
                said = await client.call_tool("annotate", note)
                if said.is_error:
                    print(f"annotate refused: {said.content}", file=sys.stderr)
                    return 1
            verb = "approve" if result["verdict"] == "approve" else "return_task"
            said = await client.call_tool(verb, {"reason": result["reason"]})
            if said.is_error:
                print(f"{verb} refused: {said.content}", file=sys.stderr)
                return 1
        return 0

    return asyncio.run(talk())


def _reviewer_options(args: list[str]) -> tuple[dict[str, float] | None, int, bool]:
    """--recall P (any kind), --recall KIND=P (one kind), --seed N, --mcp."""
    recall: dict[str, float] | None = None
    seed = 0
    pairs = iter(a for a in args if a != "--mcp")
    for flag in pairs:
        value = next(pairs, None)
        if value is None or flag not in ("--recall", "--seed"):
            raise ValueError(f"unknown or incomplete option {flag!r}")
        if flag == "--seed":
            seed = int(value)
            continue
        kind, _, chance = value.rpartition("=")
        if kind and kind not in catalogue.KINDS:
            raise ValueError(f"no defect kind {kind!r} (kinds: {', '.join(catalogue.KINDS)})")
        if not 0.0 <= float(chance) <= 1.0:
            raise ValueError(f"a recall is between 0 and 1, not {chance}")
        recall = {**(recall or {}), kind: float(chance)}
    return recall, seed, "--mcp" in args


def main(argv: list[str]) -> int:
    role = argv[-1] if argv else ""
    steps = {"designer": design, "implementer": implement}
    usage = ("usage: python -m ainarres.agents.scripted [--recall [KIND=]P ...] [--seed N] "
             "[--mcp] designer|implementer|reviewer")  # fmt: skip
    if role == "reviewer":
        try:
            recall, seed, use_mcp = _reviewer_options(argv[:-1])
        except ValueError as exc:
            print(f"{exc}\n{usage}", file=sys.stderr)
            return 2
        return review(recall, seed, use_mcp)
    if role not in steps or argv[:-1]:
        print(usage, file=sys.stderr)
        return 2
    return steps[role]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
