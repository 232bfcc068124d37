"""Demo data (small, realistic) and full-scale data (set-based SQL)."""
