"""Generic tabular IMM (placeholder docstring)."""
