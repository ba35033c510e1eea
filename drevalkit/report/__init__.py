"""Human-readable outputs: HTML scorecards (leaderboards come later)."""
