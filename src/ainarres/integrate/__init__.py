"""Integration: turning reviewed task branches into merges on main, after the project's checks.

This package works on plain folders and commands; anything that touches git objects
lives in ``ainarres.git``.
"""
