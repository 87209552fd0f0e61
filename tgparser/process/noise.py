"""Noise: messages that carry no knowledge of their own. Kept, only flagged.

- `service`: Telegram's service messages (joins, pins, title changes…);
- `empty`: no text at all (a photo or file without a caption says so: `empty (photo)`);
- `sticker` / `emoji only`: nothing but stickers, emoji, punctuation;
- `too short`: fewer than MIN_CHARS letters and digits in fewer than MIN_WORDS words — a "+1",
  "ok", "спасибо!" comment. A short post with a link is not noise: the link is the content.
"""

from __future__ import annotations

import re

MIN_CHARS = 12  # letters and digits
MIN_WORDS = 3

_ALNUM = re.compile(r"[^\W_]")
_WORD = re.compile(r"[^\W_]+")


def noise_reason(
    text_clean: str, *, kind: str, action: str | None, media_kind: str | None, has_urls: bool
) -> str | None:
    """Why a message is noise, or None when it is not."""
    if kind == "service" or action:
        return f"service ({action})" if action else "service"
    if not text_clean:
        if media_kind == "sticker":
            return "sticker"
        return f"empty ({media_kind})" if media_kind else "empty"
    if _ALNUM.search(text_clean) is None:
        return "emoji only"
    if has_urls or len(text_clean) > 4 * MIN_CHARS:
        return None
    alnum = len(_ALNUM.findall(text_clean))
    if alnum < MIN_CHARS and len(_WORD.findall(text_clean)) < MIN_WORDS:
        return "too short"
    return None
