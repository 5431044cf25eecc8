"""`ainarres hub check`: the hooks are ours and unmodified, the settings intact."""

from __future__ import annotations

from scenario import Project, git


def test_hub_check_clean_then_each_tampering_is_named(proj: Project) -> None:
    run = proj.board.run
    ok = run("hub", "check")
    assert ok.returncode == 0 and "hooks and settings as installed" in ok.stdout
    hook = proj.hub / "hooks" / "pre-receive"
    hook.write_text(hook.read_text() + "exit 0\n")
    extra = proj.hub / "hooks" / "update"
    extra.write_text("#!/bin/sh\nexit 0\n")
    extra.chmod(0o755)
    git(proj.hub, "config", "core.hooksPath", "/tmp/elsewhere")
    git(proj.hub, "config", "receive.denyNonFastForwards", "false")
    bad = run("hub", "check")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        "ainarres: hub check: hook pre-receive was changed since it was installed; reinstall "
        "the hooks (ainarres hub install-hooks)",
        "ainarres: hub check: hook update is not ainarres's; remove it or set it aside",
        "ainarres: hub check: hub config core.hooksPath is '/tmp/elsewhere', expected 'hooks'",
        "ainarres: hub check: hub config receive.denyNonFastForwards is 'false', expected 'true'",
    ]
    # The command the message names puts our hook back; what is not ours stays named.
    fixed = run("hub", "install-hooks")
    assert fixed.returncode == 0 and "installed pre-receive" in fixed.stdout, fixed.stderr
    after = run("hub", "check")
    assert after.returncode == 1 and "pre-receive" not in after.stderr
    assert len(after.stderr.splitlines()) == 3, after.stderr
