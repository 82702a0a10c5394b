"""Verification web app for `radgenome build` outputs (see docs/review.md)."""
