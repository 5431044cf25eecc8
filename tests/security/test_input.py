"""Bad input that got through or crashed (red-team finding 8 and 9): each is now one line
on stderr, a non-zero exit, and nothing changed or read that should not be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scenario import DESIGNER, IMPLEMENTER, Project

from ainarres.errors import BadInput
from ainarres.work import results


def _one_line(done: subprocess.CompletedProcess[str], code: int) -> str:
    assert done.returncode == code, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_family_name_is_never_a_path(proj: Project) -> None:
    """Finding 8: `board --family ../../credentials/operator` read the operator's
    credential and showed the board as the superuser."""
    for args in (
        ("board", "--family", "../../credentials/operator"),
        ("next", "--family", "../../credentials/operator"),
        ("log", "--family", "a/b"),
        ("next", "--family", IMPLEMENTER, "--agent", "../../x"),
    ):
        line = _one_line(proj.board.run(*args), 2)
        assert "is not valid" in line and "credentials" not in line.split("is not valid")[1]


def test_an_unknown_family_in_log_is_an_error(proj: Project) -> None:
    line = _one_line(proj.board.run("log", "--of", "nosuch"), 1)
    assert "no family 'nosuch'" in line


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("brief", "t", "--priority", "1099511627776"), "is not in the range -1000<=x<=1000"),
        (("note", "abcd", "x", "--epoch", str(2**70)), "is not in the range 0<=x<="),
        (("brief", "ok \u202eevil"), "contains U+202E (a bidi control) at character 4"),
        (("brief", "zero\u200bwidth"), "contains U+200B (an invisible character)"),
    ],
)
def test_bounded_numbers_and_clean_text(proj: Project, args: tuple[str, ...], text: str) -> None:
    before = proj.board.snapshot()
    line = _one_line(proj.board.run(*args, family=IMPLEMENTER if args[0] == "note" else None), 2)
    assert text in line
    assert proj.board.snapshot() == before


def test_invalid_utf8_arguments_and_files_are_bad_input(proj: Project, tmp_path: Path) -> None:
    env = {**os.environ, "AINARRES_HOME": str(proj.board.settings.state_dir),
           "AINARRES_DATABASE_URL": proj.board.url}  # fmt: skip
    raw = subprocess.run([sys.executable, "-m", "ainarres", "brief", b"bad \xff title"],
                         env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert "is not valid UTF-8" in _one_line(raw, 2)
    binary = tmp_path / "body.bin"
    binary.write_bytes(b"\x00\xff\xfe binary")
    line = _one_line(proj.board.run("brief", "t", "--body-file", str(binary)), 2)
    assert "not UTF-8 text" in line
    toml = tmp_path / "ainarres.toml"
    toml.write_bytes(b'[families."x"]\nmodel = "\xff"\n')
    line = _one_line(proj.board.run("agent", "run", "--family", IMPLEMENTER, "--config",
                                    str(toml)), 2)  # fmt: skip
    assert "is not UTF-8 text" in line


def test_a_huge_malformed_task_id_is_quoted_short(proj: Project) -> None:
    huge = "x" * 100_000
    line = _one_line(proj.board.run("heartbeat", huge, family=IMPLEMENTER), 2)
    assert "malformed task id" in line and len(line) < 300 and "more)" in line


def test_a_result_file_linked_to_a_credential_is_not_read(proj: Project, tmp_path: Path) -> None:
    """A tool may point result.json at a file the runner (not the tool) can read."""
    secret = proj.board.settings.state_dir / "credentials" / "families" / f"{DESIGNER}.json"
    job = tmp_path / "job"
    job.mkdir()
    (job / "result.json").symlink_to(secret)
    with pytest.raises(BadInput, match="cannot be read"):
        results.read(job, results.ReviewResult)
    (job / "result.json").unlink()
    os.mkfifo(job / "result.json")
    with pytest.raises(BadInput, match="is not a plain file"):
        results.read(job, results.ReviewResult)


def test_a_reviewer_result_is_validated_whole(tmp_path: Path) -> None:
    (tmp_path / "result.json").write_text(json.dumps({"verdict": "approve", "extra": 1}))
    with pytest.raises(BadInput, match="result.json: extra: Extra inputs are not permitted"):
        results.read(tmp_path, results.ReviewResult)
    (tmp_path / "result.json").write_text('{"verdict": "approve", "annotations": [{"file": "a",'
                                          ' "line": 0, "body": "x"}]}')  # fmt: skip
    with pytest.raises(BadInput, match="annotations.0.line"):
        results.read(tmp_path, results.ReviewResult)
