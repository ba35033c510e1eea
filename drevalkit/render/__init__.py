"""Human-readable outputs: self-contained HTML scorecards (``scorecard``: sanitised report markdown with the
checked claims highlighted, an inline SVG chart, a claim table that filters by verdict) and the leaderboard in
CSV, JSON, Markdown and HTML (``leaderboard``); ``html`` holds the shared environment and Content-Security-Policy."""
