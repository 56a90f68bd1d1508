"""Benchmark of rplnav.evidence (placeholder; filled in below)."""
