"""Getting reports: importers for files other tools write (agent runners come later)."""
