"""Can the judge be trusted? Measurements of the judge itself, on your own reports.

- ``probes``: deterministic, seeded, content-preserving perturbations of a report (padding, style removed, sections
  shuffled, citations stripped or faked, instructions to the judge injected, a generic null report) and the
  evidence-injection targets for the fact-checker;
- ``stress``: ``dreval stress``, which judges every perturbation with the same frozen rubric and measures the
  score shift of each probe with a paired bootstrap interval;
- ``card``: the judge card (JSON and HTML) those measurements make, filed under the judge's identity;
- ``agreement``: agreement statistics (accuracy, Cohen's and Fleiss' kappa, Krippendorff's alpha, precision and
  recall, pairwise preference agreement) with bootstrap intervals from ``drevalkit.stats.bootstrap``;
- ``labels`` and ``agree``: ``dreval agree``, dreval against human labels of claims and of pairwise preferences;
- ``jury``: several judges scoring every criterion and claim, and how far they agree.

This package is imported lazily by the stages that use it (``agreement`` and ``jury`` import no other stage).
"""
