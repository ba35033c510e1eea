"""Research tasks: loading task files (generation from personas comes later)."""
