"""The local web board (`ainarres web`): the live board, tasks with their diffs and
annotations, the report and governance, served on this machine behind a token."""
