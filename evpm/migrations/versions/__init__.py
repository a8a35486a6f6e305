"""One module per schema revision, oldest 0001 (the baseline: release 89c56b1's tables)."""
