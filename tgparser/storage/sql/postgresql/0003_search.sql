-- Full-text search over message texts: a stored tsvector with a GIN index. The 'simple'
-- configuration folds case and stems nothing, so Russian, Ukrainian and English words all
-- match alike (the same rules as SQLite's unicode61 tokenizer). Adding the column computes it
-- for the rows an existing archive already has.

ALTER TABLE messages
    ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED;

CREATE INDEX messages_search ON messages USING gin (search);
