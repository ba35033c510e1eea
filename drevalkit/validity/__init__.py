"""Can the judge be trusted? Measurements of the judge itself, on your own reports.

- ``probes``: deterministic, seeded, content-preserving perturbations of a report (padding, style removed, sections
  shuffled, citations stripped or faked, instructions to the judge injected, a generic null report) and the
  evidence-injection targets for the fact-checker;
- ``stress``: ``dreval stress``, which judges every perturbation with the same frozen rubric; ``stress_run`` holds
  its options and records, ``stress_summary`` the score shift of each probe with a paired bootstrap interval;
- ``card``: the judge card (JSON and HTML) those measurements make, filed under the judge's identity;
- ``labels`` and ``agree``: ``dreval agree``, dreval against human labels of claims and of pairwise preferences,
  with the agreement statistics of ``drevalkit.stats.agreement``.

This package is imported lazily by the stages that use it.
"""
