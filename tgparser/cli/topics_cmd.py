"""`tgparser topics …`: group posts into stable, explained topics."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import DATE
from tgparser.cli.refs import RefsCommand
from tgparser.errors import TgparserError

_TOPIC_ID = re.compile(r"^-\d+(:\d+(~\d+)?)?$")


class TopicIdCommand(RefsCommand):
    """A command taking a topic id: '-1001234567890:42' is an id, not an option."""

    def passes(self, token: str) -> bool:
        return _TOPIC_ID.match(token) is not None


_JSON = click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")


@click.group()
def topics() -> None:
    """Group posts into topics that update daily (offline; needs `process` documents)."""


@topics.command("build", cls=RefsCommand)
@click.argument("refs", nargs=-1, metavar="[REF...]")
@click.option(
    "--all-sources", is_flag=True, help="One topic space across every source (not one per chat)."
)
@click.option("--since", type=DATE, help="Only posts from this date on.")
@click.option("--rebuild", is_flag=True, help="Re-cluster everything (topic ids are kept).")
@click.option(
    "--llm", is_flag=True, help="Have an LLM write titles, summaries and scopes of new topics."
)
@click.option("--model", metavar="NAME", help="LLM model [env: TGPARSER_LLM_MODEL].")
@click.option(
    "--llm-url", metavar="URL", help="OpenAI-compatible API base URL [env: TGPARSER_LLM_URL]."
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Stop before the LLM spending of this run would exceed this many US dollars.",
)
@_JSON
@pass_app
def topics_build(
    app: App,
    refs: tuple[str, ...],
    all_sources: bool,
    since: datetime | None,
    rebuild: bool,
    llm: bool,
    model: str | None,
    llm_url: str | None,
    max_cost: float | None,
    json_flag: bool,
) -> None:
    """Build or update topics: without REF, for every chat that is not paused.

    A daily run assigns new posts to existing topics first and clusters only the rest; topic
    ids never change.
    """
    from tgparser.topics import require_numeric
    from tgparser.topics.build import build
    from tgparser.topics.service import require_documents, select_chats

    require_numeric(load=False)  # `build` imports them while its first queries run
    if not llm and (model or llm_url or max_cost is not None):
        raise TgparserError("--model, --llm-url and --max-cost are for --llm", exit_code=2)
    client = _llm_client(app, model, llm_url, max_cost) if llm else None
    try:
        storage = app.storage()
        chats = select_chats(storage, refs)
        require_documents(storage)
        if client is not None:
            client.check()  # one clear line before any work when the server is not there
        with _progress(app) as progress:
            reports = build(
                storage,
                [c["chat_id"] for c in chats],
                all_sources=all_sources,
                since=since,
                rebuild=rebuild,
                progress=progress,
            )
        cards = None
        if client is not None:
            from tgparser.topics.llm import write_cards

            cards = write_cards(storage, client, [r.space for r in reports], max_cost=max_cost)
    finally:
        if client is not None:
            client.close()
    if app.wants_json(json_flag):
        out: Any = [r.as_dict() for r in reports]
        if cards is not None:
            out = {"spaces": out, "llm": cards.as_dict()}
        app.print_json(out)
        return
    if cards is not None:
        app.info(
            f"llm: {cards.written:,} cards written ({cards.cached:,} from the cache), "
            f"{cards.failed:,} failed, {cards.requests:,} requests, ${cards.cost:.4f}"
            + (" — stopped at --max-cost" if cards.stopped_at_budget else "")
        )
        for error in cards.errors[:3]:
            app.info(f"llm error: {error}")
    for r in reports:
        app.info(
            f"{r.space}: {r.posts:,} posts, {r.topics:,} topics"
            f"{' (rebuilt)' if r.rebuilt else ''}; {r.new_topics:,} new, {r.assigned:,} posts "
            f"added to existing topics, {r.merged:,} merged, {r.retired:,} retired"
            + (f", {r.known_assigned:,} to known topics" if r.known_assigned else "")
        )


def _llm_client(app: App, model: str | None, url: str | None, max_cost: float | None) -> Any:
    from tgparser.process.llm import LLMClient, config_from_settings

    config = config_from_settings(app.settings, url=url, model=model)
    if max_cost is not None and config.prices is None:
        raise TgparserError(
            f"--max-cost needs the price of {config.model!r}: set llm_prices "
            f"(TGPARSER_LLM_PRICES='{config.model}=IN/OUT', USD per 1M tokens)",
            exit_code=2,
        )
    return LLMClient(config)


class _progress:
    """A Rich progress line on a TTY (stderr), nothing otherwise."""

    def __init__(self, app: App) -> None:
        import sys

        self.enabled = sys.stderr.isatty() and not app.quiet
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.__enter__()
        tasks: dict[str, Any] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = self.bar.add_task(phase, total=total)
            self.bar.update(tasks[phase], completed=done, total=total)

        return report

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@topics.command("list", cls=RefsCommand)
@click.argument("refs", nargs=-1, metavar="[REF...]")
@click.option(
    "--status",
    type=click.Choice(["active", "merged", "retired", "all"]),
    default="active",
    show_default=True,
)
@_JSON
@pass_app
def topics_list(app: App, refs: tuple[str, ...], status: str, json_flag: bool) -> None:
    """List topics, biggest first."""
    from tgparser.topics.service import list_topics

    rows = list_topics(app.storage(), refs, status)
    if app.wants_json(json_flag):
        app.print_json(rows)
        return
    if not rows:
        app.info("no topics: run `tgparser topics build` (after `tgparser process`)")
        return
    from rich.table import Table

    table = Table()
    for column in ("id", "type", "size", "last post", "title", "status"):
        table.add_column(column, justify="right" if column == "size" else "left",
                         no_wrap=column == "id", overflow="fold")  # fmt: skip
    for row in rows:
        last = row["last_date"].strftime("%Y-%m-%d") if row["last_date"] else ""
        status_text = row["status"] + (f" → {row['merged_into']}" if row["merged_into"] else "")
        table.add_row(row["id"], row["type"], str(row["size"]), last, row["title"], status_text)
    app.stdout_console().print(table)


@topics.command("show", cls=TopicIdCommand)
@click.argument("topic_id", metavar="ID")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many items.")
@_JSON
@pass_app
def topics_show(app: App, topic_id: str, limit: int | None, json_flag: bool) -> None:
    """A topic's card and its ranked items (anchors first), with why each belongs."""
    from tgparser.topics.service import show_topic

    card = show_topic(app.storage(), topic_id, limit)
    if app.wants_json(json_flag):
        app.print_json(card)
        return
    console = app.stdout_console()
    console.print(f"[bold]{card['title']}[/bold]  ({card['id']}, {card['type']}, "
                  f"{card['size']} posts, {card['status']})")  # fmt: skip
    if card["summary"]:
        console.print(card["summary"])
    if card["keywords"]:
        console.print("keywords: " + ", ".join(card["keywords"]))
    if card["related_topics"]:
        console.print("related: " + ", ".join(card["related_topics"]))
    from rich.table import Table

    table = Table()
    for column in ("role", "kind", "score", "message", "why"):
        table.add_column(column, overflow="fold")
    for item in card["items"]:
        where = item["url"] or f"{item['chat_id']}:{item['message_id']}"
        table.add_row(item["role"], item["kind"], f"{item['score']:.2f}", where,
                      item["justification"])  # fmt: skip
    console.print(table)


@topics.command("add", cls=RefsCommand)
@click.argument("title")
@click.argument("refs", nargs=-1, metavar="[REF...]")
@click.option("--description", default="", help="What the topic is about, in a sentence.")
@click.option("--keywords", default="", help="Comma-separated words that mark the topic.")
@_JSON
@pass_app
def topics_add(
    app: App, title: str, refs: tuple[str, ...], description: str, keywords: str, json_flag: bool
) -> None:
    """Declare a topic you care about; the next build assigns the posts that fit it."""
    from tgparser.topics.service import add_known

    row = add_known(app.storage(), title, description, keywords.split(","), refs)
    if app.wants_json(json_flag):
        app.print_json(row)
        return
    app.info(f"added known topic {row['id']}: {row['title']} (run `tgparser topics build`)")


@topics.command("retire", cls=TopicIdCommand)
@click.argument("topic_id", metavar="ID")
@pass_app
def topics_retire(app: App, topic_id: str) -> None:
    """Retire a topic: it stays stored, but is no longer listed as active."""
    from tgparser.topics.service import retire

    retire(app.storage(), topic_id)
    if app.wants_json():
        app.print_json({"id": topic_id, "status": "retired"})
        return
    app.info(f"retired {topic_id}")
