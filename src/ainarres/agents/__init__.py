"""The agent side: its workspace (clone, task worktrees, pushes) and, later, the runner."""
