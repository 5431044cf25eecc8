"""One exit-code table (errors.EXIT_CODES): the README's table and `--help` say exactly it."""

from __future__ import annotations

import re
import subprocess
import sys

from boardenv import REPO_ROOT

from ainarres.errors import EXIT_CODES


def test_the_readme_table_is_the_exit_code_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### Exit codes") :]
    rows = re.findall(r"^\| (\d) \| (.+?) \|$", section, re.MULTILINE)
    assert [(int(code), text) for code, text in rows] == list(EXIT_CODES)


def test_help_lists_every_exit_code() -> None:
    shown = subprocess.run([sys.executable, "-m", "ainarres", "--help"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    for code, text in EXIT_CODES:
        assert f"{code}  {text.replace('`', '')}" in shown
