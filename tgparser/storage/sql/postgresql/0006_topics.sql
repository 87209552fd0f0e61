-- Topics (`tgparser topics`): posts grouped into stable, explained topics, built from the
-- documents of `process`. Derived data, but copied by `db copy`: topic ids are meant to
-- outlive rebuilds, and a copy that renumbered them would break every link to a topic.

-- Topics the user declared (`topics add`); their documents are assigned by score.
CREATE TABLE known_topics (
    id          text PRIMARY KEY,              -- 'k1', 'k2', … (also the topic's id)
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    keywords    jsonb NOT NULL DEFAULT '[]',
    chat_ids    jsonb NOT NULL DEFAULT '[]',  -- [] = every source
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- A topic space: one chat ('chat:<chat_id>') or every followed source ('all'). It keeps the
-- document frequencies its vectors were built with, so a daily run can place new documents
-- without re-reading the old ones.
CREATE TABLE topic_spaces (
    space           text PRIMARY KEY,
    chat_ids        jsonb NOT NULL DEFAULT '[]',
    builder_version text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}',
    doc_freq        jsonb NOT NULL DEFAULT '{}',
    n_docs          bigint NOT NULL DEFAULT 0,
    built_at        timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE topics (
    id              text PRIMARY KEY,          -- '<chat_id>:<message_id>' of the founding anchor
    space           text NOT NULL,             -- topic_spaces.space, or 'known'
    type            text NOT NULL CHECK (type IN ('cluster', 'singleton', 'known')),
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'merged', 'retired')),
    merged_into     text,
    title           text NOT NULL DEFAULT '',
    summary         text NOT NULL DEFAULT '',
    scope_in        jsonb NOT NULL DEFAULT '[]',
    scope_out       jsonb NOT NULL DEFAULT '[]',
    keywords        jsonb NOT NULL DEFAULT '[]',
    tags            jsonb NOT NULL DEFAULT '[]',
    related_topics  jsonb NOT NULL DEFAULT '[]',
    anchors         jsonb NOT NULL DEFAULT '[]',
    size            bigint NOT NULL DEFAULT 0,
    first_date      timestamptz,
    last_date       timestamptz,
    centroid        jsonb NOT NULL DEFAULT '{}',
    member_hash     text NOT NULL DEFAULT '',
    known_topic_id  text,
    lineage         jsonb NOT NULL DEFAULT '[]',
    builder_version text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    prompt_id       text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX topics_space ON topics (space, status);

-- A topic's bundle: its posts (and on-topic comments, and duplicates of its posts), ranked.
CREATE TABLE topic_members (
    space         text NOT NULL,               -- the space whose build placed the item
    topic_id      text NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    chat_id       bigint NOT NULL,
    message_id    bigint NOT NULL,
    role          text NOT NULL CHECK (role IN ('anchor', 'supporting')),
    kind          text NOT NULL CHECK (kind IN ('post', 'comment', 'duplicate')),
    score         double precision NOT NULL,  -- 0–1: cosine to the topic (1 for a duplicate)
    justification text NOT NULL DEFAULT '',
    added_at      timestamptz NOT NULL,
    PRIMARY KEY (space, topic_id, chat_id, message_id)
);
CREATE INDEX topic_members_message ON topic_members (chat_id, message_id);
CREATE INDEX topic_members_topic ON topic_members (topic_id, score);
