"""Review annotations mirrored as git notes, so they travel with the repository."""

from __future__ import annotations

import random
import time
from pathlib import Path

from ainarres.errors import AinarresError
from ainarres.git._env import clean_env
from ainarres.git._run import git
from ainarres.git.keys import SigningKey
from ainarres.git.push import PushResult, push

NOTES_REF = "refs/notes/ainarres/review"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "ainarres review",
    "GIT_AUTHOR_EMAIL": "review@ainarres",
    "GIT_COMMITTER_NAME": "ainarres review",
    "GIT_COMMITTER_EMAIL": "review@ainarres",
}


def read_note(repo: Path, commit: str) -> str | None:
    """The review note on `commit` in `repo`, or None."""
    done = git(
        "notes", f"--ref={NOTES_REF}", "show", commit, cwd=repo, env=clean_env(), check=False
    )
    return done.stdout if done.returncode == 0 else None


def append_and_push(
    repo: Path, hub: str, commit: str, text: str, key: SigningKey, attempts: int = 8
) -> PushResult:
    """Append `text` to the note on `commit` and push the notes ref to the hub, signed.

    Another reviewer may push notes at the same moment: then fetch theirs, append again on
    top, and retry after a short random pause (so two losers do not collide again in
    step), so no one's note is lost and the ref only moves forward.
    """
    env = clean_env(None, **_IDENTITY)
    result = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
        fetched = git(
            "fetch", "--quiet", hub, f"+{NOTES_REF}:{NOTES_REF}", cwd=repo, env=env, check=False
        )
        if fetched.returncode != 0 and "couldn't find remote ref" not in fetched.stderr:
            raise AinarresError(f"cannot fetch review notes from the hub: {fetched.stderr.strip()}")
        git("notes", f"--ref={NOTES_REF}", "append", "-m", text, commit, cwd=repo, env=env)
        result = push(repo, hub, [f"{NOTES_REF}:{NOTES_REF}"], key=key, signed=True)
        if result.ok:
            return result
        # A refusal by the gate is final; anything else is a lost race with another
        # reviewer (their notes landed first, or both created the ref at once): try again.
        if any(line.startswith("ainarres gate:") for line in result.remote_lines):
            return result
    assert result is not None
    return result
