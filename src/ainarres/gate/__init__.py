"""The merge gate: a pure policy over a push's ref updates and the facts gathered for it."""
