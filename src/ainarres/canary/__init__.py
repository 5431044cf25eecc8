"""Canaries: seeded review rounds that measure how often a reviewer catches a known defect."""
