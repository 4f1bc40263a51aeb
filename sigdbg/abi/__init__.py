"""Per-ABI layout tables (data) and the one generic decoder."""
