-- Knowledge documents (`tgparser process`): one derived row per message and processor, keyed
-- by the content hash of the message it was made from and the identity of what made it.
-- A failures journal, the LLM response cache, and the per-chat scan position of process runs.

CREATE TABLE documents (
    chat_id                 bigint NOT NULL,
    message_id              bigint NOT NULL,
    processor               text NOT NULL,            -- builtin | llm
    processor_version       text NOT NULL,
    model                   text NOT NULL DEFAULT '',
    prompt_id               text NOT NULL DEFAULT '',
    content_hash            text NOT NULL,            -- messages.content_hash it was made from
    text_clean              text NOT NULL DEFAULT '',
    text_hash               text NOT NULL DEFAULT '',  -- of the normalised text: duplicates
    language                text NOT NULL DEFAULT 'und',
    urls                    jsonb NOT NULL DEFAULT '[]',
    hashtags                jsonb NOT NULL DEFAULT '[]',
    mentions                jsonb NOT NULL DEFAULT '[]',
    is_ad                   boolean NOT NULL DEFAULT false,
    ad_reasons              jsonb NOT NULL DEFAULT '[]',
    is_noise                boolean NOT NULL DEFAULT false,
    noise_reason            text,
    duplicate_of_chat_id    bigint,
    duplicate_of_message_id bigint,
    keywords                jsonb NOT NULL DEFAULT '[]',
    summary                 text NOT NULL DEFAULT '',
    entities                jsonb,
    tokens_in               bigint NOT NULL DEFAULT 0,
    tokens_out              bigint NOT NULL DEFAULT 0,
    cost                    double precision NOT NULL DEFAULT 0,  -- US dollars
    processed_at            timestamptz NOT NULL,
    PRIMARY KEY (chat_id, message_id, processor)
);

-- Messages whose processing failed (invalid LLM reply after the repair retry, timeouts,
-- refusals): skipped by later runs until `process --retry-failed`, or until they change.
CREATE TABLE document_failures (
    chat_id           bigint NOT NULL,
    message_id        bigint NOT NULL,
    processor         text NOT NULL,
    processor_version text NOT NULL,
    model             text NOT NULL DEFAULT '',
    prompt_id         text NOT NULL DEFAULT '',
    content_hash      text NOT NULL,
    error             text NOT NULL,
    attempts          bigint NOT NULL DEFAULT 1,
    first_failed_at   timestamptz NOT NULL,
    last_attempt_at   timestamptz NOT NULL,
    PRIMARY KEY (chat_id, message_id, processor)
);

-- LLM replies by (model, prompt id, hash of the exact input): the same text is never paid
-- for twice, across runs and chats.
CREATE TABLE llm_cache (
    model      text NOT NULL,
    prompt_id  text NOT NULL,
    input_hash text NOT NULL,
    response   jsonb NOT NULL,
    tokens_in  bigint NOT NULL DEFAULT 0,
    tokens_out bigint NOT NULL DEFAULT 0,
    cost       double precision NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (model, prompt_id, input_hash)
);

-- Per chat and processor: which processor identity scanned it up to which messages.updated_at
-- (so a run with nothing to do reads an index range, not the archive), and which run holds it.
CREATE TABLE process_chats (
    chat_id         bigint NOT NULL,
    processor       text NOT NULL,
    identity        text NOT NULL DEFAULT '',
    scanned_to      timestamptz,
    owner           text,
    host            text,
    pid             bigint,
    expires_at      timestamptz,
    PRIMARY KEY (chat_id, processor)
);

-- Finding the first message of a chat with the same normalised text.
CREATE INDEX documents_text_hash ON documents (chat_id, text_hash) WHERE text_hash <> '';

-- What a run with nothing to do reads: per chat, the messages changed since its last scan.
CREATE INDEX messages_chat_updated ON messages (chat_id, updated_at, message_id);
-- Forwards of the same original post, across chats.
CREATE INDEX messages_forward_origin ON messages (fwd_from_id, fwd_from_message_id)
    WHERE fwd_from_message_id IS NOT NULL;
