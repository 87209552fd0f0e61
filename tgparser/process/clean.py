"""Clean text out of a stored message: plain text with entity links kept as `text (url)`,
whitespace normalised, and the URLs, hashtags and mentions it carries."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Invisible characters that carry nothing: zero-width spaces and joiners used as spacers,
# soft hyphens, BOMs, directional marks. (U+200D, the emoji joiner, is kept.)
_INVISIBLE_CHARS = "\u00ad\u200b\u200c\u200e\u200f\u2060\ufeff\u202a\u202b\u202c\u202d\u202e"
_INVISIBLE_CHARS += "\u2066\u2067\u2068\u2069"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
_BLANK_LINES = re.compile(r"\n{3,}")
_URL = re.compile(
    r"(?i)\b(?:https?://|www\.|t\.me/)[^\s<>«»\"'()\[\]{}]+(?:\([^\s()]*\)[^\s<>«»\"'()\[\]{}]*)*"
)
_TRAILING = ".,;:!?…)»\"'"
_HASHTAG = re.compile(r"(?<![\w#])#(\w{2,64})")
_MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z][A-Za-z0-9_]{3,31})\b")


@dataclass
class Cleaned:
    text: str
    urls: list[dict[str, str]] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)


def clean_message(text: str, entities: list[dict[str, Any]] | None) -> Cleaned:
    """Plain, normalised text; link entities become `text (url)`. Nothing is invented: only
    what the message holds, in its order."""
    text = text or ""
    link_urls: list[str] = []
    mention_names: list[str] = []
    if entities:
        text, link_urls, mention_names = _apply_entities(text, entities)
    text = normalise_whitespace(text)
    found = _URL.findall(text) if "http" in text or "www." in text or "t.me/" in text else []
    urls = _urls(link_urls + [_strip_trailing(u) for u in found])
    hashtags = _unique(f"#{tag}" for tag in _HASHTAG.findall(text)) if "#" in text else []
    mentions = _MENTION.findall(text) if "@" in text else []
    mentions = _unique([f"@{name}" for name in mentions] + mention_names)
    return Cleaned(text, urls, hashtags, mentions)


def normalise_whitespace(text: str) -> str:
    if not text:
        return ""
    # A test for each invisible character runs in C, faster than the pattern's search.
    if not text.isascii() and any(map(text.__contains__, _INVISIBLE_CHARS)):
        text = _INVISIBLE.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # str.split() knows every Unicode space and runs in C.
    if "\n" in text:
        text = "\n".join(" ".join(line.split()) for line in text.split("\n"))
    else:
        text = " ".join(text.split())
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def _apply_entities(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[str], list[str]]:
    """Entities count offsets in UTF-16 code units; Python strings count code points."""
    index = _utf16_index(text)
    inserts: list[tuple[int, str]] = []
    urls: list[str] = []
    mentions: list[str] = []
    for entity in entities:
        kind = entity.get("type")
        if kind not in ("text_url", "url", "mention_name"):
            continue
        try:
            start = index(int(entity["offset"]))
            end = index(int(entity["offset"]) + int(entity["length"]))
        except (KeyError, TypeError, ValueError, IndexError):
            continue
        shown = text[start:end]
        if kind == "text_url" and entity.get("url"):
            url = str(entity["url"])
            urls.append(url)
            if url.rstrip("/") not in shown and shown.strip():
                inserts.append((end, f" ({url})"))
        elif kind == "url" and shown:
            urls.append(_strip_trailing(shown))
        elif kind == "mention_name" and shown.strip():
            mentions.append(shown.strip())
    for position, addition in sorted(inserts, reverse=True):
        text = text[:position] + addition + text[position:]
    return text, urls, mentions


def _utf16_index(text: str) -> Any:
    """A function from a UTF-16 offset to a Python string index."""
    if text.isascii() or not any(ord(c) > 0xFFFF for c in text):
        return lambda offset: min(offset, len(text))
    positions = []
    for i, char in enumerate(text):
        positions.append(i)
        if ord(char) > 0xFFFF:
            positions.append(i)  # the second half of a surrogate pair
    positions.append(len(text))

    def index(offset: int) -> int:
        return positions[min(offset, len(positions) - 1)]

    return index


def _strip_trailing(url: str) -> str:
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _urls(found: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for url in found:
        if not url:
            continue
        full = url if "://" in url else f"https://{url}"
        key = full.rstrip("/")
        if key in seen:
            continue
        seen.add(key)
        out.append({"url": full, "domain": url_domain(full)})
    return out


def url_domain(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


def _unique(items: Any) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = item.casefold()
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
