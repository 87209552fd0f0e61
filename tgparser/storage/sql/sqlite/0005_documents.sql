-- Knowledge documents (`tgparser process`): one derived row per message and processor, keyed
-- by the content hash of the message it was made from and the identity of what made it.
-- A failures journal, the LLM response cache, and the per-chat scan position of process runs.

CREATE TABLE documents (
    chat_id                 INTEGER NOT NULL,
    message_id              INTEGER NOT NULL,
    processor               TEXT NOT NULL,            -- builtin | llm
    processor_version       TEXT NOT NULL,
    model                   TEXT NOT NULL DEFAULT '',
    prompt_id               TEXT NOT NULL DEFAULT '',
    content_hash            TEXT NOT NULL,            -- messages.content_hash it was made from
    text_clean              TEXT NOT NULL DEFAULT '',
    text_hash               TEXT NOT NULL DEFAULT '',  -- of the normalised text: duplicates
    language                TEXT NOT NULL DEFAULT 'und',
    urls                    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(urls)),
    hashtags                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(hashtags)),
    mentions                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(mentions)),
    is_ad                   INTEGER NOT NULL DEFAULT 0 CHECK (is_ad IN (0, 1)),
    ad_reasons              TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(ad_reasons)),
    is_noise                INTEGER NOT NULL DEFAULT 0 CHECK (is_noise IN (0, 1)),
    noise_reason            TEXT,
    duplicate_of_chat_id    INTEGER,
    duplicate_of_message_id INTEGER,
    keywords                TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(keywords)),
    summary                 TEXT NOT NULL DEFAULT '',
    entities                TEXT CHECK (entities IS NULL OR json_valid(entities)),
    tokens_in               INTEGER NOT NULL DEFAULT 0,
    tokens_out              INTEGER NOT NULL DEFAULT 0,
    cost                    REAL NOT NULL DEFAULT 0,  -- US dollars
    processed_at            TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id, processor)
);

-- Messages whose processing failed (invalid LLM reply after the repair retry, timeouts,
-- refusals): skipped by later runs until `process --retry-failed`, or until they change.
CREATE TABLE document_failures (
    chat_id           INTEGER NOT NULL,
    message_id        INTEGER NOT NULL,
    processor         TEXT NOT NULL,
    processor_version TEXT NOT NULL,
    model             TEXT NOT NULL DEFAULT '',
    prompt_id         TEXT NOT NULL DEFAULT '',
    content_hash      TEXT NOT NULL,
    error             TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 1,
    first_failed_at   TEXT NOT NULL,
    last_attempt_at   TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id, processor)
);

-- LLM replies by (model, prompt id, hash of the exact input): the same text is never paid
-- for twice, across runs and chats.
CREATE TABLE llm_cache (
    model      TEXT NOT NULL,
    prompt_id  TEXT NOT NULL,
    input_hash TEXT NOT NULL,
    response   TEXT NOT NULL CHECK (json_valid(response)),
    tokens_in  INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    cost       REAL NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (model, prompt_id, input_hash)
);

-- Per chat and processor: which processor identity scanned it up to which messages.updated_at
-- (so a run with nothing to do reads an index range, not the archive), and which run holds it.
CREATE TABLE process_chats (
    chat_id         INTEGER NOT NULL,
    processor       TEXT NOT NULL,
    identity        TEXT NOT NULL DEFAULT '',
    scanned_to      TEXT,
    owner           TEXT,
    host            TEXT,
    pid             INTEGER,
    expires_at      TEXT,
    PRIMARY KEY (chat_id, processor)
);

-- Finding the first message of a chat with the same normalised text.
CREATE INDEX documents_text_hash ON documents (chat_id, text_hash) WHERE text_hash <> '';

-- What a run with nothing to do reads: per chat, the messages changed since its last scan.
CREATE INDEX messages_chat_updated ON messages (chat_id, updated_at, message_id);
-- Forwards of the same original post, across chats.
CREATE INDEX messages_forward_origin ON messages (fwd_from_id, fwd_from_message_id)
    WHERE fwd_from_message_id IS NOT NULL;
