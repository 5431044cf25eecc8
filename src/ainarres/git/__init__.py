"""Git plumbing for ainarres: the hub, signing keys, signed pushes and the pre-receive hook.

This package is the only place that talks to git (the CLI, or pygit2). Import the
submodules directly; this file stays empty on purpose, because the pre-receive hook
imports ``ainarres.gate.hook`` on every push and must not pay for anything else.
"""
