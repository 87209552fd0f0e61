"""`tgparser process`: knowledge documents from archived messages (see docs/process.md)."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from datetime import datetime
from typing import Any

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import date_range_options
from tgparser.cli.refs import RefsCommand
from tgparser.errors import TgparserError


@click.command(cls=RefsCommand)
@click.argument("refs", nargs=-1, metavar="[REF]...")
@date_range_options
@click.option(
    "--processor",
    type=click.Choice(["builtin", "llm"]),
    default="builtin",
    show_default=True,
    help="builtin: offline and fast; llm: an OpenAI-compatible server adds summaries, "
    "keywords and entities.",
)
@click.option("--model", metavar="NAME", help="LLM model [env: TGPARSER_LLM_MODEL].")
@click.option(
    "--llm-url",
    metavar="URL",
    help="OpenAI-compatible API base URL, e.g. http://localhost:11434/v1 [env: TGPARSER_LLM_URL].",
)
@click.option("--limit", type=click.IntRange(min=1), help="Process at most this many messages.")
@click.option("--reprocess", is_flag=True, help="Process again messages that are up to date.")
@click.option("--retry-failed", is_flag=True, help="Retry only the messages that failed before.")
@click.option(
    "--dry-run", is_flag=True, help="Say how many messages, tokens and dollars; process nothing."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="LLM requests in flight at once.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    metavar="N",
    help="Processes making builtin documents (default: one per CPU core); a run starts "
    "worker processes only once it has read over 1,000 messages.",
)
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    metavar="USD",
    help="Stop before the LLM spending of this run would exceed this many US dollars.",
)
@click.option("--json", "json_flag", is_flag=True, help="Print the run summary as JSON.")
@pass_app
def process(
    app: App,
    refs: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    processor: str,
    model: str | None,
    llm_url: str | None,
    limit: int | None,
    reprocess: bool,
    retry_failed: bool,
    dry_run: bool,
    concurrency: int,
    jobs: int | None,
    max_cost: float | None,
    json_flag: bool,
) -> None:
    """Clean, classify and summarise archived messages into knowledge documents.

    REF names followed chats (default: every chat in the archive that is not paused,
    followed and imported alike). Incremental: only messages without an up-to-date document
    are processed; an edited message is processed again. Safe to run from cron: two runs at
    once never process the same message.

    Exit codes: 0 done, 1 some messages failed (they are journaled; --retry-failed retries
    them), 2 bad usage or configuration, 75 the LLM server is unreachable.
    """
    from tgparser.process.parallel import default_jobs
    from tgparser.process.run import BuiltinProcessor, ProcessOptions, run_process, select_chats

    if reprocess and retry_failed:
        raise TgparserError("--reprocess and --retry-failed exclude each other", exit_code=2)
    if since is not None and until is not None and until <= since:
        raise TgparserError("--until must be after --since", exit_code=2)
    if processor == "builtin" and (model or llm_url):
        raise TgparserError("--model and --llm-url are for --processor llm", exit_code=2)
    if processor == "llm" and jobs is not None:
        raise TgparserError("--jobs is for --processor builtin (llm: --concurrency)", exit_code=2)
    runner: Any
    if processor == "llm":
        from tgparser.process.llm import LLMProcessor, config_from_settings

        config = config_from_settings(app.settings, url=llm_url, model=model)
        if max_cost is not None and config.prices is None:
            raise TgparserError(
                f"--max-cost needs the price of {config.model!r}: set llm_prices "
                f"(TGPARSER_LLM_PRICES='{config.model}=IN/OUT', USD per 1M tokens)",
                exit_code=2,
            )
        runner = LLMProcessor(config, concurrency=concurrency)
    else:
        runner = BuiltinProcessor()
    try:
        storage = app.storage(write=not dry_run)  # a dry run creates no archive
        chats = select_chats(storage, refs)
        if processor == "llm" and not dry_run:
            runner.check()  # one clear line before any work when the server is not there
        options = ProcessOptions(
            since=since,
            until=until,
            limit=limit,
            reprocess=reprocess,
            retry_failed=retry_failed,
            dry_run=dry_run,
            max_cost=max_cost,
            jobs=default_jobs() if jobs is None else jobs,
        )
        with _progress(app) as progress:
            summary = run_process(storage, runner, chats, options, progress)
    finally:
        runner.close()
    if app.wants_json(json_flag):
        app.print_json(summary.as_dict())
    else:
        priced = processor != "llm" or runner.config.prices is not None
        _report(app, summary, priced)
    if summary.exit_code:
        raise click.exceptions.Exit(summary.exit_code)


def _progress(app: App) -> Any:
    """Rich's display on a terminal; nothing (and Rich not even imported: a cron run with
    nothing to do should take no longer than Python's start) otherwise."""
    if app.quiet or app.json or not sys.stderr.isatty():
        return nullcontext()
    from tgparser.cli.progress import RichIngestProgress

    return RichIngestProgress()


def _report(app: App, summary: Any, priced: bool) -> None:
    if summary.dry_run:
        estimate = summary.estimate
        line = f"would process {estimate.messages:,} messages"
        if summary.processor == "llm":
            line += (
                f": {estimate.to_send:,} to send to {summary.model} (the rest are noise or "
                f"cached), about {estimate.tokens_in:,} tokens in and at most "
                f"{estimate.tokens_out:,} out, "
                + (
                    f"at most ${estimate.cost:.4f}"
                    if priced
                    else f"cost unknown (no price for {summary.model}: set llm_prices)"
                )
            )
        click.echo(line)
        return
    parts = [
        f"processed {summary.processed:,} messages",
        f"{summary.ads:,} ads",
        f"{summary.noise:,} noise",
        f"{summary.duplicates:,} duplicates",
    ]
    if summary.processor == "llm":
        parts.append(
            f"{summary.cached:,} from the cache, {summary.tokens_in:,} + "
            f"{summary.tokens_out:,} tokens, ${summary.cost:.4f}"
        )
    app.info(", ".join(parts))
    busy = [c for c in summary.chats if c.status == "busy"]
    if busy:
        app.info(f"{len(busy)} chat(s) skipped: another process run is working on them")
    if summary.stopped == "max-cost":
        app.info(f"stopped at the --max-cost budget; {summary.skipped:,}+ messages left for later")
    elif summary.stopped == "limit":
        app.info("stopped at --limit; the rest is left for the next run")
    if summary.failed:
        click.echo(
            f"{summary.failed:,} message(s) failed (journaled; retry with "
            "`tgparser process --retry-failed`)",
            err=True,
        )
