-- Incremental, cron-safe ingestion: per-source cursors and deferrals, edit history,
-- per-thread comment cursors, and a lock per source held in the database.

-- Telethon needs a channel's access hash to address it; storing it means a cron box with only
-- a string session never has to resolve usernames again (ResolveUsername is rate limited).
ALTER TABLE sources ADD COLUMN access_hash bigint;
ALTER TABLE sources ADD COLUMN linked_access_hash bigint;
-- Every message with low_water_id <= id <= high_water_id is stored: new messages are fetched
-- above high_water_id, backfill continues below low_water_id until backfill_done.
ALTER TABLE sources ADD COLUMN high_water_id bigint;
ALTER TABLE sources ADD COLUMN low_water_id bigint;
ALTER TABLE sources ADD COLUMN backfill_done boolean NOT NULL DEFAULT false;
-- After a FloodWait longer than the cap: no request to Telegram for this source before then.
ALTER TABLE sources ADD COLUMN not_before timestamptz;
-- Telegram's own message count for the chat, as of the last run (for "share archived").
ALTER TABLE sources ADD COLUMN telegram_count bigint;

-- Earlier versions of edited messages; the current one stays in messages.
CREATE TABLE message_versions (
    chat_id      bigint NOT NULL,
    message_id   bigint NOT NULL,
    content_hash text NOT NULL,
    text         text NOT NULL DEFAULT '',
    entities     jsonb,
    media_kind   text,
    media        jsonb,
    edit_date    timestamptz,
    captured_at  timestamptz NOT NULL,
    PRIMARY KEY (chat_id, message_id, content_hash)
);

-- Per channel post: the highest comment id fetched from its thread.
CREATE TABLE thread_cursors (
    chat_id       bigint NOT NULL,
    message_id    bigint NOT NULL,
    synced_max_id bigint NOT NULL,
    synced_at     timestamptz NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

-- One ingest at a time per source, across processes and machines sharing the database.
CREATE TABLE source_locks (
    chat_id     bigint PRIMARY KEY REFERENCES sources (chat_id) ON DELETE CASCADE,
    owner       text NOT NULL,
    host        text NOT NULL,
    pid         bigint NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
