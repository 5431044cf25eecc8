"""Governance: track records turned into permissions. The board demotes by itself
(migrations/0005_governance.sql); this package reads the standing and advises a person."""
