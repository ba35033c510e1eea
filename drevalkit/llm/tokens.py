"""Token counts estimated without the judge's tokenizer (an endpoint does not expose it).

About four characters per token for ASCII text and one token per other character (CJK and most other scripts
take one or more tokens per character in common BPE vocabularies); good to some 20%, which is what a "does this
report fit the judge's context at all" check needs.
"""

from __future__ import annotations

import math

PER_MESSAGE_OVERHEAD = 8  # role markers and separators of a chat template


def estimate_tokens(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return math.ceil(ascii_chars / 4 + (len(text) - ascii_chars))


def estimate_messages_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m.get("content") or "") + PER_MESSAGE_OVERHEAD for m in messages)
