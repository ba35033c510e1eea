"""Local servers for tests, benchmarks and users' own tests: an OpenAI-compatible judge (with fault injection and
simulated latency), search APIs, web pages (hostile ones included) and a static site, all on 127.0.0.1.

A rule-based judge (``rule_judge``) answers fact-check prompts deterministically: a stand-in, not a model, and any
figure computed with it says so.
"""
