-- Full-text search over message texts: an FTS5 index kept in step with messages by triggers.
-- unicode61 folds case for every script, so Russian, Ukrainian and English words all match;
-- nothing is stemmed (the same rules as PostgreSQL's 'simple' configuration).

CREATE VIRTUAL TABLE messages_fts USING fts5(
    text,
    content = 'messages',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;

-- Refreshed counters rewrite a row without touching its text: only an edit reindexes it.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.text IS NOT new.text BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.rowid, new.text);
END;

-- An existing archive gets its index built from the rows it already has.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
