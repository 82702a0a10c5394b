"""Scorers against gold files."""
