"""Review: the task's diff, annotations checked against it, verdicts pinned to the head."""
