-- Core tables: followed chats, every message (posts, comments, group messages), ingest history.
-- SQLite dialect: timestamps are ISO-8601 UTC text (fixed width, so they sort), JSON is text,
-- booleans are 0/1. The adapter converts both ways so callers see the same Python values as on
-- PostgreSQL.

CREATE TABLE sources (
    chat_id        INTEGER PRIMARY KEY,       -- marked id: -100… channels/supergroups
    username       TEXT,
    title          TEXT,
    type           TEXT NOT NULL,             -- channel | supergroup | group | forum | user
    linked_chat_id INTEGER,                   -- the channel's discussion group, if any
    options        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(options)),
    status         TEXT NOT NULL DEFAULT 'active',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE messages (
    chat_id             INTEGER NOT NULL,
    message_id          INTEGER NOT NULL,
    kind                TEXT NOT NULL,        -- post | comment | message | service
    date                TEXT NOT NULL,
    edit_date           TEXT,
    sender_id           INTEGER,
    sender_name         TEXT,
    post_author         TEXT,
    text                TEXT NOT NULL DEFAULT '',
    entities            TEXT CHECK (entities IS NULL OR json_valid(entities)),
    reply_to_msg_id     INTEGER,
    reply_to_top_id     INTEGER,
    forum_topic_id      INTEGER,
    parent_chat_id      INTEGER,              -- for comments: the channel post they belong to
    parent_message_id   INTEGER,
    views               INTEGER,
    forwards            INTEGER,
    replies             INTEGER,
    replies_max_id      INTEGER,
    reactions           TEXT CHECK (reactions IS NULL OR json_valid(reactions)),
    fwd_from_id         INTEGER,
    fwd_from_name       TEXT,
    fwd_from_message_id INTEGER,
    fwd_post_author     TEXT,                 -- signature of the forwarded channel post
    fwd_date            TEXT,
    grouped_id          INTEGER,
    action              TEXT,                 -- service messages: the action's type
    media_kind          TEXT,
    media               TEXT CHECK (media IS NULL OR json_valid(media)),
    is_pinned           INTEGER CHECK (is_pinned IN (0, 1)),
    raw                 TEXT NOT NULL CHECK (json_valid(raw)),
    content_hash        TEXT NOT NULL,
    first_seen_at       TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);

CREATE INDEX messages_chat_date ON messages (chat_id, date, message_id);
CREATE INDEX messages_parent ON messages (parent_chat_id, parent_message_id)
    WHERE parent_chat_id IS NOT NULL;
CREATE INDEX messages_kind ON messages (kind);

CREATE TABLE ingest_runs (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL REFERENCES sources (chat_id) ON DELETE CASCADE,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,                -- running | ok | failed | deferred | skipped
    fetched     INTEGER NOT NULL DEFAULT 0,
    inserted    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    error       TEXT,
    details     TEXT CHECK (details IS NULL OR json_valid(details))
);

CREATE INDEX ingest_runs_chat ON ingest_runs (chat_id, started_at);
