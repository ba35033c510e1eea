"""Reading reports: importers for each format (a registry keyed by name) and citation parsing."""
