"""Per-domain quotas: how many personas each wave takes from each domain, and which passing candidates are kept.

Without ``--n`` / ``--per-domain`` there is no quota: every persona goes into one wave and every passing candidate
is kept. With one, a domain takes just enough personas for its quota at the pass rate seen so far, and the kept
tasks are those that need search most.
"""

from __future__ import annotations

import math

from ..schemas import Persona
from .candidates import Candidate

ASSUMED_PASS_RATE = 0.35  # share of candidates expected to survive every filter, before any is seen
MIN_PASS_RATE = 0.1


def domain_quota(n: int | None, per_domain: int | None, domains: int) -> int | None:
    """The tasks each domain should keep: ``--per-domain``, else an even share of ``--n``, else no quota."""
    if per_domain:
        return per_domain
    if n:
        return math.ceil(n / domains)
    return None


class Quotas:
    """The domains' persona pools, how many of each have been used, and the quotas the candidates are held to."""

    def __init__(
        self,
        n: int | None,
        per_domain: int | None,
        k: int,
        pools: dict[str, list[Persona]],
        candidates: list[Candidate],
    ):
        self.n = n
        self.per_domain = per_domain
        self.k = k
        self.pools = pools
        self.domains = list(pools)
        self.candidates = candidates  # the run's list, which grows wave by wave
        self.used = {d: 0 for d in self.domains}
        self.quota = domain_quota(n, per_domain, len(self.domains))

    def kept_in(self, domain: str) -> list[Candidate]:
        return [c for c in self.candidates if c.kept and c.persona.domain == domain]

    def targets(self) -> dict[str, int] | None:
        """Each domain's quota; with ``--n`` alone, what the domains that ran out of personas lack is spread over
        the others."""
        quota = self.quota
        if quota is None:
            return None
        targets = {d: quota for d in self.domains}
        if self.n and not self.per_domain:
            exhausted = [d for d in targets if self.used[d] >= len(self.pools[d])]
            open_ = [d for d in targets if d not in exhausted]
            if exhausted and open_:
                short = self.n - sum(min(len(self.kept_in(d)), quota) for d in exhausted)
                share = math.ceil(max(short, 0) / len(open_))
                for d in open_:
                    targets[d] = max(quota, share)
        return targets

    def next_personas(self) -> list[Persona]:
        """The personas of the next wave (none when every target is met or every pool used), marked used."""
        targets = self.targets()
        chosen: list[Persona] = []
        for domain in self.domains:
            pool = self.pools[domain]
            if targets is None:
                take = len(pool) - self.used[domain]
            else:
                need = targets[domain] - len(self.kept_in(domain))
                if self.n and sum(len(self.kept_in(d)) for d in self.domains) >= self.n and not self.per_domain:
                    need = 0
                if need <= 0:
                    continue
                seen = [c for c in self.candidates if c.persona.domain == domain]
                rate = len(self.kept_in(domain)) / len(seen) if len(seen) >= self.k else ASSUMED_PASS_RATE
                take = math.ceil(need / (self.k * max(rate, MIN_PASS_RATE)))
            take = max(0, min(take, len(pool) - self.used[domain]))
            chosen.extend(pool[self.used[domain] : self.used[domain] + take])
            self.used[domain] += take
        return chosen

    def select(self) -> list[Candidate]:
        """The kept tasks: per domain, those that need search most first (lowest no-search quality, then highest
        qualification confidence); with ``--per-domain`` up to the quota in each; with ``--n`` taken round-robin
        over the domains, so the set stays balanced and a domain that came up short leaves its place to others.
        The passing candidates left out are rejected at stage ``quota``."""
        by_domain: dict[str, list[Candidate]] = {}
        for domain in self.domains:
            kept = sorted(
                self.kept_in(domain),
                key=lambda c: (
                    c.necessity["quality"] if c.necessity else 1.0,
                    -(c.qualification or {}).get("confidence", 0),
                    c.id,
                ),
            )
            by_domain[domain] = kept[: self.per_domain] if self.per_domain else kept
        if self.n:
            chosen: list[Candidate] = []
            for i in range(max((len(v) for v in by_domain.values()), default=0)):
                for domain in self.domains:
                    if i < len(by_domain[domain]) and len(chosen) < self.n:
                        chosen.append(by_domain[domain][i])
        else:
            chosen = [c for d in self.domains for c in by_domain[d]]
        picked = {c.id for c in chosen}
        for c in self.candidates:
            if c.kept and c.id not in picked:
                limit = (
                    f"--n {self.n} was reached"
                    if c in by_domain[c.persona.domain]
                    else f"the quota of {c.persona.domain} ({self.per_domain}) is filled"
                )
                c.reject("quota", f"passed every filter, but {limit} (by tasks that need search more)")
        order = {d: i for i, d in enumerate(self.domains)}
        return sorted(chosen, key=lambda c: (order[c.persona.domain], c.persona.id, c.index))
