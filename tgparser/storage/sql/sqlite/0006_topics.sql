-- Topics (`tgparser topics`): posts grouped into stable, explained topics, built from the
-- documents of `process`. Derived data, but copied by `db copy`: topic ids are meant to
-- outlive rebuilds, and a copy that renumbered them would break every link to a topic.

-- Topics the user declared (`topics add`); their documents are assigned by score.
CREATE TABLE known_topics (
    id          TEXT PRIMARY KEY,              -- 'k1', 'k2', … (also the topic's id)
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    keywords    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(keywords)),
    chat_ids    TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(chat_ids)),  -- [] = every source
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- A topic space: one chat ('chat:<chat_id>') or every followed source ('all'). It keeps the
-- document frequencies its vectors were built with, so a daily run can place new documents
-- without re-reading the old ones.
CREATE TABLE topic_spaces (
    space           TEXT PRIMARY KEY,
    chat_ids        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(chat_ids)),
    builder_version TEXT NOT NULL,
    params          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    doc_freq        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(doc_freq)),
    n_docs          INTEGER NOT NULL DEFAULT 0,
    built_at        TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE topics (
    id              TEXT PRIMARY KEY,          -- '<chat_id>:<message_id>' of the founding anchor
    space           TEXT NOT NULL,             -- topic_spaces.space, or 'known'
    type            TEXT NOT NULL CHECK (type IN ('cluster', 'singleton', 'known')),
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'merged', 'retired')),
    merged_into     TEXT,
    title           TEXT NOT NULL DEFAULT '',
    summary         TEXT NOT NULL DEFAULT '',
    scope_in        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(scope_in)),
    scope_out       TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(scope_out)),
    keywords        TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(keywords)),
    tags            TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
    related_topics  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(related_topics)),
    anchors         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(anchors)),
    size            INTEGER NOT NULL DEFAULT 0,
    first_date      TEXT,
    last_date       TEXT,
    centroid        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(centroid)),
    member_hash     TEXT NOT NULL DEFAULT '',
    known_topic_id  TEXT,
    lineage         TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(lineage)),
    builder_version TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
    prompt_id       TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX topics_space ON topics (space, status);

-- A topic's bundle: its posts (and on-topic comments, and duplicates of its posts), ranked.
CREATE TABLE topic_members (
    space         TEXT NOT NULL,               -- the space whose build placed the item
    topic_id      TEXT NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    chat_id       INTEGER NOT NULL,
    message_id    INTEGER NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('anchor', 'supporting')),
    kind          TEXT NOT NULL CHECK (kind IN ('post', 'comment', 'duplicate')),
    score         REAL NOT NULL,  -- 0–1: cosine to the topic (1 for a duplicate)
    justification TEXT NOT NULL DEFAULT '',
    added_at      TEXT NOT NULL,
    PRIMARY KEY (space, topic_id, chat_id, message_id)
);
CREATE INDEX topic_members_message ON topic_members (chat_id, message_id);
CREATE INDEX topic_members_topic ON topic_members (topic_id, score);
