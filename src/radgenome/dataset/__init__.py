"""Dataset records and writers (RadGenome CSVs, Parquet)."""
