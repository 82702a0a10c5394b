"""Corpus: reports and metadata tables, volume I/O, CT-RATE layout discovery."""
