"""Synthetic data the project generates itself: CT-RATE-style reports (and, later, phantom CTs)."""
