"""Active fact-checking: claims, search, fetch and extract, evidence ranking, verification."""
