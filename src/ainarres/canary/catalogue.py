"""The catalogue of seeded defects, read from data (`defects.toml`), and the one-line
rewrites that plant them. Pure: text in, text out.

`candidates` lists every defect that can be planted on the lines a change added, in a
stable order; `recognise` goes the other way, for the scripted reviewer: given what a file
should hold and what it holds, which catalogued rewrite explains each difference.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import tokenize
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ainarres.errors import BadInput

KINDS = (
    "inverted_condition",
    "off_by_one",
    "removed_guard",
    "swallowed_exception",
    "wrong_constant",
    "deleted_assertion",
    "changed_operator",
)


@dataclass(frozen=True)
class Rule:
    """One way to plant one kind of defect on one line."""

    kind: str
    description: str
    pattern: re.Pattern[str]
    tolerance: int
    replace: str | None = None
    delete: bool = False
    following: re.Pattern[str] | None = None  # delete only when the next line matches
    increment: bool = False
    swap: Mapping[str, str] = field(default_factory=dict)

    def rewrite(self, lines: Sequence[str], index: int) -> tuple[list[str], int] | None:
        """`lines` with this defect planted at `index` (0-based), and the 1-based line of
        the result where it sits; None when the rule does not apply there."""
        line = lines[index]
        match = self.pattern.search(line)
        if match is None:
            return None
        if self.delete:
            if not _balanced(line):
                return None
            gone = 1
            if self.following is not None:
                if index + 1 >= len(lines) or not self.following.match(lines[index + 1]):
                    return None
                gone = 2
            rest = [*lines[:index], *lines[index + gone :]]
            return rest, max(1, min(index + 1, len(rest)))
        if self.increment:
            new = line[: match.start(1)] + str(int(match.group(1)) + 1) + line[match.end(1) :]
        elif self.swap:
            word = match.group(1)
            new = line[: match.start(1)] + self.swap[word] + line[match.end(1) :]
        else:
            assert self.replace is not None
            new = line[: match.start()] + match.expand(self.replace) + line[match.end() :]
        if new == line:
            return None
        return [*lines[:index], new, *lines[index + 1 :]], index + 1


@dataclass(frozen=True)
class Seeded:
    """A defect planted in one file: where, what kind, and the file's new text."""

    kind: str
    description: str
    path: str
    line: int  # 1-based, in the new text
    tolerance: int
    text: str


def _balanced(line: str) -> bool:
    return all(line.count(a) == line.count(b) for a, b in ("()", "[]", "{}"))


def _rule(entry: Mapping[str, Any]) -> Rule:
    kind = entry.get("kind")
    if kind not in KINDS:
        raise BadInput(f"defect kind {kind!r} is not one of {', '.join(KINDS)}")
    ways = [entry.get("replace") is not None, bool(entry.get("delete")),
            bool(entry.get("increment")), bool(entry.get("swap"))]  # fmt: skip
    if sum(ways) != 1:
        raise BadInput(f"defect {kind}: give exactly one of replace, delete, increment, swap")
    try:
        pattern = re.compile(str(entry["pattern"]))
        following = re.compile(str(entry["next"])) if entry.get("next") else None
    except (KeyError, re.error) as exc:
        raise BadInput(f"defect {kind}: bad or missing pattern ({exc})") from None
    tolerance = entry.get("tolerance", 2)
    if not isinstance(tolerance, int) or not 0 <= tolerance <= 20:
        raise BadInput(f"defect {kind}: tolerance must be a whole number of lines, 0 to 20")
    return Rule(kind=kind, description=str(entry.get("description", kind)), pattern=pattern,
                tolerance=tolerance, replace=entry.get("replace"),
                delete=bool(entry.get("delete")), following=following,
                increment=bool(entry.get("increment")),
                swap=dict(entry.get("swap") or {}))  # fmt: skip


def load(text: str | None = None) -> tuple[Rule, ...]:
    """The catalogue: `text` in the format of `defects.toml`, or the one shipped."""
    if text is None:
        text = resources.files("ainarres.canary").joinpath("defects.toml").read_text()
    try:
        entries = tomllib.loads(text).get("defect", [])
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"the defect catalogue is not TOML: {exc}") from None
    rules = tuple(_rule(e) for e in entries)
    if not rules:
        raise BadInput("the defect catalogue lists no [[defect]]")
    return rules


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def _join(lines: Sequence[str], like: str) -> str:
    return "\n".join(lines) + ("\n" if like.endswith("\n") else "")


def _text_spans(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]] | None:
    """Where a Python file holds strings and comments ((line, col) from, to), or None when
    it does not tokenize."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    return [(t.start, t.end) for t in tokens if t.type in (tokenize.STRING, tokenize.COMMENT)]


def _in_code(spans: Sequence[tuple[tuple[int, int], tuple[int, int]]], line: int, col: int
             ) -> bool:  # fmt: skip
    return not any(start <= (line, col) < end for start, end in spans)


def candidates(rules: Sequence[Rule], path: str, text: str, added: Iterable[int]) -> list[Seeded]:
    """Every defect of the catalogue that can be planted on the `added` lines (1-based) of
    the Python file `path`, whose content is `text`, in line order then catalogue order.

    Only Python, and only its code: a rewrite inside a string or a comment is no defect, a
    rewrite that breaks the syntax is a tell (other languages would need their own parser
    to say either). A removal must leave an added line beside it, so that the place stays
    in the diff for the reviewer to point at."""
    spans = _text_spans(text) if path.endswith(".py") else None
    if spans is None:
        return []
    lines = text.splitlines()
    kept = set(added)
    # A planted file must still parse when it parsed before: a syntax error is no canary,
    # it is a tell.
    strict = _parses(text)
    found: list[Seeded] = []
    for number in sorted(kept):
        if not 1 <= number <= len(lines):
            continue
        for rule in rules:
            match = rule.pattern.search(lines[number - 1])
            if match is None:
                continue
            where = match.start(1) if rule.increment or rule.swap else match.start()
            if rule.delete:
                where = len(lines[number - 1]) - len(lines[number - 1].lstrip())
            if not _in_code(spans, number, where):
                continue
            planted = rule.rewrite(lines, number - 1)
            if planted is None:
                continue
            new_lines, at = planted
            if rule.delete:
                gone = len(lines) - len(new_lines)
                if number + gone in kept:
                    at = number
                elif number - 1 in kept:
                    at = number - 1
                else:
                    continue
            new_text = _join(new_lines, text)
            if not strict or _parses(new_text):
                found.append(Seeded(rule.kind, rule.description, path, at, rule.tolerance,
                                    new_text))  # fmt: skip
    return found


@dataclass(frozen=True)
class Difference:
    """A line where a file differs from what it should hold, and which defect that is."""

    line: int  # 1-based, in the file as it is
    kind: str | None  # None: no rule of the catalogue explains it


def recognise(rules: Sequence[Rule], expected: str, seen: str) -> list[Difference]:
    """Which catalogued rewrites turn `expected` into `seen`, one per differing block."""
    want, got = expected.splitlines(), seen.splitlines()
    found: list[Difference] = []
    matcher = difflib.SequenceMatcher(a=want, b=got, autojunk=False)
    for tag, i1, _, j1, _ in matcher.get_opcodes():
        if tag == "equal":
            continue
        kind = None
        for rule in rules:
            planted = rule.rewrite(want, i1)
            if planted is not None and planted[0] == got:
                kind = rule.kind
                break
        found.append(Difference(line=max(1, min(j1 + 1, len(got))), kind=kind))
    return found
