"""Where the hub is: a folder on this machine, or a URL git can reach.

Accepted: a path (relative ones are made absolute), `file://PATH`, `ssh://[user@]host[:port]/path`,
scp-like `[user@]host:path`, and `https://` or `http://` (git's smart HTTP, as served by
`git http-backend`). Refused, before git ever sees them: anything that starts with `-` (git
would read it as an option, e.g. `--upload-pack=...`), git's `<helper>::<address>` form
(`ext::` runs a command), other schemes, and text with control characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ainarres.errors import BadInput

SCHEMES = ("ssh", "git+ssh", "ssh+git", "https", "http", "file")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HOW = ("give a path, file://PATH, ssh://[user@]host[:port]/path, [user@]host:path "
       "or https://host/path")  # fmt: skip


@dataclass(frozen=True)
class HubLocation:
    """A hub's location: ``url`` is what git is given; ``local`` is the hub's folder when
    it is on this machine's file system (None for a hub reached over the network)."""

    url: str
    local: Path | None

    def __str__(self) -> str:
        return self.url

    @property
    def over_ssh(self) -> bool:
        return self.local is None and not self.url.startswith(("https://", "http://"))

    def require_local(self, doing: str) -> Path:
        """The hub's folder, or a refusal that says ``doing`` must happen on the hub's server."""
        if self.local is None:
            raise BadInput(
                f"{doing} needs the hub's files, and the hub {self.url} is on another machine: "
                "run it on the hub's server (where `ainarres hub show` names a folder)"
            )
        return self.local


def parse_hub(text: str, *, base: Path | None = None) -> HubLocation:
    """The hub location written ``text``, or BadInput naming the accepted forms.
    A relative path is taken from ``base`` (default: the current directory)."""
    if not text or not text.strip():
        raise BadInput(f"the hub's location is empty; {HOW}")
    if _CONTROL.search(text) or text != text.strip():
        raise BadInput(f"the hub's location {text!r} has spaces around it or control "
                       f"characters; {HOW}")  # fmt: skip
    if text.startswith("-"):
        raise BadInput(f"the hub's location {text!r} starts with '-' (git would read it as "
                       f"an option); {HOW}")  # fmt: skip
    if "::" in text.split("/", 1)[0] or text.split(":", 1)[0] == "ext":
        raise BadInput(f"the hub's location {text!r} names a git remote helper, which can "
                       f"run commands; {HOW}")  # fmt: skip
    if "://" in text:
        return _url(text)
    head = text.split(":", 1)[0]
    if ":" in text and "/" not in head and head:
        # git's rule: "host:path" is ssh unless a slash comes before the colon.
        if not text.split(":", 1)[1]:
            raise BadInput(f"the hub's location {text!r} names a host but no path; {HOW}")
        return HubLocation(text, None)
    path = Path(text).expanduser()
    return HubLocation(str(_absolute(path, base)), _absolute(path, base))


# A known_hosts line: [@marker] hosts key-type base64-key [comment]
_KNOWN_HOST = re.compile(
    r"^(@\S+ )?\S+ (ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/]+={0,2}( [^\x00-\x1f\x7f]*)?$"
)
MAX_HOST_KEY_LINES = 200


def known_hosts_lines(text: str) -> list[str]:
    """The host key lines of ``text`` (blank lines dropped), or BadInput: each must be a
    known_hosts line, as `ssh-keyscan HOST` prints them."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or len(lines) > MAX_HOST_KEY_LINES or not all(map(_KNOWN_HOST.match, lines)):
        raise BadInput("the hub's host keys must be known_hosts lines (host type key), as "
                       f"`ssh-keyscan HOST` prints, at most {MAX_HOST_KEY_LINES}")  # fmt: skip
    return lines


def _url(text: str) -> HubLocation:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        raise BadInput(f"the hub's location {text!r} is not a valid URL ({exc}); {HOW}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadInput(f"the hub's location {text!r} uses {scheme}://, which ainarres does not "
                       f"speak; {HOW}")  # fmt: skip
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise BadInput(f"the hub's location {text!r} names a host in a file:// URL; {HOW}")
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise BadInput(f"the hub's location {text!r} is a file:// URL without an "
                           f"absolute path; {HOW}")  # fmt: skip
        return HubLocation(str(path), path)
    if not parts.hostname or parts.path in ("", "/"):
        raise BadInput(f"the hub's location {text!r} needs a host and a path; {HOW}")
    return HubLocation(text, None)


def _absolute(path: Path, base: Path | None) -> Path:
    if path.is_absolute():
        return path
    return ((base or Path.cwd()) / path).absolute()
