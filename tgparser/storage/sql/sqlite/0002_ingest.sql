-- Incremental, cron-safe ingestion: per-source cursors and deferrals, edit history,
-- per-thread comment cursors, and a lock per source held in the database.

-- Telethon needs a channel's access hash to address it; storing it means a cron box with only
-- a string session never has to resolve usernames again (ResolveUsername is rate limited).
ALTER TABLE sources ADD COLUMN access_hash INTEGER;
ALTER TABLE sources ADD COLUMN linked_access_hash INTEGER;
-- Every message with low_water_id <= id <= high_water_id is stored: new messages are fetched
-- above high_water_id, backfill continues below low_water_id until backfill_done.
ALTER TABLE sources ADD COLUMN high_water_id INTEGER;
ALTER TABLE sources ADD COLUMN low_water_id INTEGER;
ALTER TABLE sources ADD COLUMN backfill_done INTEGER NOT NULL DEFAULT 0
    CHECK (backfill_done IN (0, 1));
-- After a FloodWait longer than the cap: no request to Telegram for this source before then.
ALTER TABLE sources ADD COLUMN not_before TEXT;
-- Telegram's own message count for the chat, as of the last run (for "share archived").
ALTER TABLE sources ADD COLUMN telegram_count INTEGER;

-- Earlier versions of edited messages; the current one stays in messages.
CREATE TABLE message_versions (
    chat_id      INTEGER NOT NULL,
    message_id   INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    text         TEXT NOT NULL DEFAULT '',
    entities     TEXT CHECK (entities IS NULL OR json_valid(entities)),
    media_kind   TEXT,
    media        TEXT CHECK (media IS NULL OR json_valid(media)),
    edit_date    TEXT,
    captured_at  TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id, content_hash)
);

-- Per channel post: the highest comment id fetched from its thread.
CREATE TABLE thread_cursors (
    chat_id       INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    synced_max_id INTEGER NOT NULL,
    synced_at     TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

-- One ingest at a time per source, across processes and machines sharing the database.
CREATE TABLE source_locks (
    chat_id     INTEGER PRIMARY KEY REFERENCES sources (chat_id) ON DELETE CASCADE,
    owner       TEXT NOT NULL,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
