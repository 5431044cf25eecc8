"""The claim lifecycle, once: what the CLI verbs and the agent runner both call.

implement: claim -> worktree (caught up with main) -> feedback -> work -> commit -> push
(verified on the hub) -> done. review: show -> annotate -> approve or return, each verdict
mirrored to the hub's review notes by one policy. design: a brief's tasks and its done in
one transaction. The CLI commands and `agents/jobs.py` are thin adapters over these.
"""
