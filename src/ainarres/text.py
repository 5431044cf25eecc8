"""Text a model or a person wrote, checked before anything stores or shows it.

The same rules, in the same words, as the board's `_text_refusal` (the database's
`_bad_text`, migrations/0007_hardening.sql); tests/security/test_text_hygiene.py runs one
table of samples through both.

- Single-line text (titles): no control character (U+0000-U+001F, U+007F-U+009F), no bidi
  control (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069), no invisible character
  (U+200B-U+200D, U+2060-U+2064, U+FEFF, U+00AD), no U+2028/U+2029.
- Multi-line text (bodies, notes, reasons): TAB, LF and CR are fine, and so are ZWNJ, ZWJ
  (U+200C, U+200D: several scripts and emoji sequences need them) and the soft hyphen;
  everything else above is refused.
- Empty (None, or nothing but spaces, tabs, CR and LF) is refused unless allow_empty; the
  byte limit counts UTF-8 bytes, and is checked before the characters.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ainarres.errors import BadInput

_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = r"\u200b\u2060-\u2064\ufeff"
_JOINERS = r"\u200c\u200d\u00ad"  # invisible, but words need them in multi-line text
_SEPARATORS = r"\u2028\u2029"
# A Python string can hold a lone surrogate; no database text can, and no encoder takes it.
_SURROGATES = r"\ud800-\udfff"

UNSAFE_SINGLE_LINE = re.compile(
    rf"[\x00-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}{_JOINERS}{_SEPARATORS}{_SURROGATES}]"
)
UNSAFE_MULTI_LINE = re.compile(
    rf"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}{_SEPARATORS}{_SURROGATES}]"
)

_BLANK = " \t\n\r"  # a text of nothing but these is empty
_LINE_BREAKS = frozenset("\n\x0b\x0c\r\x85\u2028\u2029")
_BIDI_CONTROLS = re.compile(rf"[{_BIDI}]")


def _what(char: str, single_line: bool) -> str:
    code = ord(char)
    if single_line and char in _LINE_BREAKS:
        return "a line break"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "a control character"
    if _BIDI_CONTROLS.match(char):
        return "a bidi control"
    if char in "\u2028\u2029":
        return "a line or paragraph separator"
    if 0xD800 <= code <= 0xDFFF:
        return "an unpaired surrogate"
    return "an invisible character"


def _refusal(
    field: str, value: str | None, *, max_bytes: int, single_line: bool, allow_empty: bool = False
) -> str | None:
    """Why `value` cannot be stored, in the database's words; None when it can."""
    if value is None or value.strip(_BLANK) == "":
        if not allow_empty:
            return f"{field} must not be empty"
        if value is None:
            return None
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return f"{field} is {size} bytes; the limit is {max_bytes}"
    found = (UNSAFE_SINGLE_LINE if single_line else UNSAFE_MULTI_LINE).search(value)
    if found is None:
        return None
    char = found.group()
    what = _what(char, single_line)
    where = f"U+{ord(char):04X} ({what}) at character {found.start() + 1}; remove it"
    if what == "a line break":
        return f"{field} must be one line: it contains {where}"
    return f"{field} contains {where}"


def check(
    field: str, value: str, *, max_bytes: int, single_line: bool, allow_empty: bool = False
) -> str:
    """`value` if the board would store it, else BadInput saying which character, where."""
    why = _refusal(
        field, value, max_bytes=max_bytes, single_line=single_line, allow_empty=allow_empty
    )
    if why is not None:
        raise BadInput(why)
    return value


def _shown(char: str) -> str:
    if UNSAFE_SINGLE_LINE.match(char) or not char.isprintable():
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{{{code:04x}}}"
    return char


def clip(value: str, limit: int = 60) -> str:
    """A printable short prefix of `value` for an error message: control and invisible
    characters shown as \\xNN or \\u{XXXX}, at most `limit` characters of it shown, then
    "…(N more)" when N characters of `value` were left out."""
    shown: list[str] = []
    used = 0
    for i, char in enumerate(value):
        piece = _shown(char)
        if used + len(piece) > limit:
            return "".join(shown) + f"…({len(value) - i} more)"
        shown.append(piece)
        used += len(piece)
    return "".join(shown)


def visible(value: str) -> str:
    """`value` safe to show on a terminal: every character the multi-line rule refuses
    (controls, bidi controls, invisible characters) written as \\xNN or \\u{XXXX}; line
    breaks and tabs kept."""
    return UNSAFE_MULTI_LINE.sub(lambda m: _shown(m.group()), value)


def storable(value: str, max_bytes: int) -> str:
    """`value` as the board will take it, for text ainarres relays rather than writes
    (a tool's output, a file's conflicting lines): refused characters shown escaped, cut to
    `max_bytes` of UTF-8 at a character boundary."""
    shown = visible(value.replace("\x00", ""))
    data = shown.encode("utf-8", "replace")
    if len(data) <= max_bytes:
        return shown
    return data[: max_bytes - 16].decode("utf-8", "ignore") + "\n… (cut)"


def read_small_text(path: Path, what: str, limit: int, *, missing: str | None = None) -> str:
    """The UTF-8 text of a small plain file someone else wrote (a tool's result, a bundle,
    a key), read without following a symlink or blocking on a FIFO; BadInput naming
    ``what`` otherwise (``missing``: the message when there is no file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BadInput(missing or f"{what}: {path} does not exist") from None
    except OSError as exc:
        raise BadInput(f"{what}: {path} cannot be read ({exc.strerror}); it must be a plain "
                       "file") from None  # fmt: skip
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise BadInput(f"{what}: {path} is not a plain file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise BadInput(f"{what}: {path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{what}: {path} is not UTF-8 text") from None
