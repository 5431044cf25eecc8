"""ainarres: AI coding agents from different makers on one repository, coordinated by a board."""

__version__ = "0.1.0"
