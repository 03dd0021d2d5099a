"""The daemon's read-only HTTP endpoint (issues 5 and 6)."""
