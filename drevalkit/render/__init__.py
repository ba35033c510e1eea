"""Human-readable outputs of one result: the self-contained HTML scorecard (``scorecard``) with an inline SVG chart
(``svg``) and the report as sanitised markdown (``markdown``: citations linked, checked claims marked by
``highlight`` on the plain text of ``blocks``, cleaned by ``sanitise``); ``page`` holds the shared template
environment and Content-Security-Policy. The leaderboard's formats are in ``drevalkit.leaderboard.formats``."""
