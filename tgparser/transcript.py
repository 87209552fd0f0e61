"""Exports for people: a plain-text transcript and one self-contained HTML page.

Both take export records (see `tgparser.export.FIELDS`) in export order and stream them: each
chat gets a heading, each message its date, author and text, with what it replies to, where it
was forwarded from, its media, reactions and link. A comment that follows its post (export
`--with-comments`) is shown indented under it. The replied-to message is quoted when it came
earlier in the same export (the last 50,000 are remembered), else named by its id.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from tgparser import __version__

Record = dict[str, Any]
_REMEMBERED = 50_000
_QUOTE_CHARS = 80


@dataclass
class Entry:
    """One message, with what a reader needs around it."""

    record: Record
    heading: str | None  # the chat heading to show before it, when the chat changes
    link: str | None  # the heading's chat link
    in_thread: bool  # a comment shown under its post
    reply: str | None  # "Author: quoted text…" or "message #id"


def entries(records: Iterable[Record], chats: dict[int, Record]) -> Iterator[Entry]:
    """The records with headings, thread placement and reply quotes worked out."""
    from tgparser.export import chat_link

    seen: OrderedDict[tuple[int, int], str] = OrderedDict()
    block: tuple[int, bool] | None = None
    thread: tuple[int, int] | None = None  # (source chat, post id) of the last post shown
    for r in records:
        comment = r["kind"] == "comment"
        heading = link = None
        in_thread = comment and (r["source_chat_id"], r["parent_message_id"]) == thread
        if not in_thread and (r["source_chat_id"], comment) != block:
            block = (r["source_chat_id"], comment)
            chat = chats.get(r["source_chat_id"], {})
            heading = chat_title(r["source_chat_id"], chat)
            if comment:
                heading = f"{heading}: comments"
            link = chat_link(r["source_chat_id"], chat.get("username"))
        if not comment:
            thread = (r["source_chat_id"], r["message_id"])
        reply = None
        if r["reply_to_message_id"] is not None:
            quoted = seen.get((r["chat_id"], r["reply_to_message_id"]))
            reply = quoted or f"message #{r['reply_to_message_id']}"
        key = (r["chat_id"], r["message_id"])
        seen[key] = _quote(r)
        if len(seen) > _REMEMBERED:
            seen.popitem(last=False)
        yield Entry(r, heading, link, in_thread, reply)


def chat_title(chat_id: int, chat: Record) -> str:
    """`Title (@username)`, or the title, or the id."""
    title = chat.get("title") or str(chat_id)
    return f"{title} (@{chat['username']})" if chat.get("username") else title


def _quote(r: Record) -> str:
    text = " ".join((r["text"] or "").split())
    if len(text) > _QUOTE_CHARS:
        text = text[: _QUOTE_CHARS - 1].rstrip() + "…"
    what = f'"{text}"' if text else f"[{r['media_kind'] or 'message'}]"
    return f"{author(r)}: {what}"


def author(r: Record) -> str:
    return r["author"] or (str(r["sender_id"]) if r["sender_id"] is not None else "unknown")


def when(r: Record) -> str:
    """`2025-03-01 09:00 UTC` from the record's ISO date."""
    return f"{r['date'][:16].replace('T', ' ')} UTC"


def forwarded(r: Record) -> str | None:
    if r["forward_from_name"] is None and r["forward_from_id"] is None:
        return None
    return str(r["forward_from_name"] or r["forward_from_id"])


def reactions(r: Record) -> str:
    return "  ".join(f"{x['reaction']} {x['count']}" for x in r["reactions"] or [])


# -- plain text ---------------------------------------------------------------------------------

_RULE = "=" * 78


def write_text(records: Iterable[Record], out: TextIO, chats: dict[int, Record]) -> int:
    """A transcript like DiscordChatExporter's PlainText: per message a `[date] author` line,
    its reply/forward notes, the text, media, reactions and link, then a blank line."""
    count = 0
    for e in entries(records, chats):
        r = e.record
        lines: list[str] = []
        if e.heading is not None:
            if count:
                lines.append("")
            lines += [_RULE, e.heading + (f"  {e.link}" if e.link else ""), _RULE, ""]
        head = f"[{when(r)}] {author(r)}"
        if r["kind"] == "service":
            head += f" ({r['action'] or 'service message'})"
        elif r["kind"] == "comment" and not e.in_thread:
            head += f" (comment on post #{r['parent_message_id']})"
        if r["forum_topic_id"] is not None:
            head += f" (topic #{r['forum_topic_id']})"
        body = [head]
        if e.reply:
            body.append(f"> in reply to {e.reply}")
        if (source := forwarded(r)) is not None:
            body.append(f"> forwarded from {source}")
        if r["text"]:
            body += r["text"].splitlines() or [""]
        if r["media_kind"]:
            body.append(f"[{r['media_kind']}]")
        if r["reactions"]:
            body.append(reactions(r))
        if r["url"]:
            body.append(r["url"])
        indent = "    " if e.in_thread else ""
        lines += [f"{indent}{line}" if line else "" for line in body]
        out.write("\n".join(lines) + "\n\n")
        count += 1
    return count


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --muted: #656d76; --line: #d0d7de;
  --card: #ffffff; --bg: #f6f8fa; --accent: #0969da; --quote: #eaeef2; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8d96a0;
  --line: #30363d; --card: #161b22; --bg: #0d1117; --accent: #4493f8; --quote: #21262d; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 760px; margin: 0 auto; padding: 24px 16px 48px; }
header.page { color: var(--muted); font-size: 13px; margin-bottom: 8px; }
h2 { font-size: 19px; margin: 28px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
h2 a { font-size: 13px; font-weight: normal; margin-left: 8px; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
.msg { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 10px 14px; margin: 10px 0; }
.msg.thread { margin-left: 36px; }
.msg.service { background: transparent; border-style: dashed; color: var(--muted); }
.meta { display: flex; gap: 10px; flex-wrap: wrap; align-items: baseline; font-size: 13px;
  color: var(--muted); }
.meta .author { color: var(--fg); font-weight: 600; font-size: 14px; }
.meta .link { margin-left: auto; }
.note { font-size: 13px; color: var(--muted); background: var(--quote);
  border-left: 3px solid var(--accent); padding: 2px 8px; margin: 6px 0; border-radius: 4px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin-top: 4px; }
.media { display: inline-block; font-size: 12px; color: var(--muted);
  border: 1px solid var(--line); border-radius: 999px; padding: 0 8px; margin-top: 6px; }
.reactions { font-size: 13px; margin-top: 6px; color: var(--muted); }
footer { color: var(--muted); font-size: 12px; margin-top: 32px; text-align: center; }
"""

# Nothing outside the file is loaded, and no script can run even if some text slipped through.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def write_html(records: Iterable[Record], out: TextIO, chats: dict[int, Record]) -> int:
    """One self-contained page (inline CSS, no scripts, no external assets), light or dark
    with the browser; every text is HTML-escaped, so a message is shown, never run."""
    esc = html.escape
    out.write(
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Telegram archive export</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        '<header class="page">Telegram archive export</header>\n'
    )
    count = 0
    for e in entries(records, chats):
        r = e.record
        parts: list[str] = []
        if e.heading is not None:
            link = f' <a href="{esc(e.link)}">{esc(e.link)}</a>' if e.link else ""
            parts.append(f"<h2>{esc(e.heading)}{link}</h2>")
        classes = "msg" + (" thread" if e.in_thread else "")
        classes += " service" if r["kind"] == "service" else ""
        parts.append(f'<article class="{classes}" id="m{r["chat_id"]}_{r["message_id"]}">')
        meta = [f'<span class="author">{esc(author(r))}</span>', f"<time>{esc(when(r))}</time>"]
        if r["kind"] == "service":
            meta.append(f"<span>{esc(r['action'] or 'service message')}</span>")
        elif r["kind"] == "comment" and not e.in_thread:
            meta.append(f"<span>comment on post #{r['parent_message_id']}</span>")
        if r["forum_topic_id"] is not None:
            meta.append(f"<span>topic #{r['forum_topic_id']}</span>")
        if r["views"] is not None:
            meta.append(f"<span>{r['views']:,} views</span>")
        if r["url"]:
            meta.append(f'<a class="link" href="{esc(r["url"])}">{esc(r["url"])}</a>')
        parts.append(f'<div class="meta">{"".join(meta)}</div>')
        if e.reply:
            parts.append(f'<div class="note">in reply to {esc(e.reply)}</div>')
        if (source := forwarded(r)) is not None:
            parts.append(f'<div class="note">forwarded from {esc(source)}</div>')
        if r["text"]:
            parts.append(f'<div class="text">{esc(r["text"])}</div>')
        if r["media_kind"]:
            parts.append(f'<span class="media">{esc(r["media_kind"])}</span>')
        if r["reactions"]:
            parts.append(f'<div class="reactions">{esc(reactions(r))}</div>')
        parts.append("</article>")
        out.write("\n".join(parts) + "\n")
        count += 1
    plural = "" if count == 1 else "s"
    out.write(
        f"<footer>{count:,} message{plural} · exported with tgparser {esc(__version__)}</footer>\n"
        "</main>\n</body>\n</html>\n"
    )
    return count
