"""The board's roles (migrations/0001_board.sql: roles), and those an agent's tool may take.

A module of its own so that what only names a role (the board's rows, an adapter) imports no
model library."""

from __future__ import annotations

from typing import Literal

Role = Literal["designer", "implementer", "reviewer", "integrator"]
AgentRole = Literal["designer", "implementer", "reviewer"]
