"""Token counts estimated without the judge's tokenizer (an endpoint does not expose it).

About four characters per token for ASCII text and one token per other character (CJK and most other scripts
take one or more tokens per character in common BPE vocabularies); good to some 20%, which is what a "does this
report fit the judge's context at all" check needs.
"""

from __future__ import annotations

import math

PER_MESSAGE_OVERHEAD = 8  # role markers and separators of a chat template


def estimate_tokens(text: str) -> int:
    # counted in C (a per-character Python loop took 0.2 s on a 4M-character report)
    ascii_chars = len(text) if text.isascii() else len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_chars / 4 + (len(text) - ascii_chars))


def estimate_messages_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m.get("content") or "") + PER_MESSAGE_OVERHEAD for m in messages)
