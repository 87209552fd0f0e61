-- Search, take two: folded letters, and an index other tools find.
--
-- The index is declared `content="messages"` (no spaces, double quotes): the form that
-- sqlite-utils (`Table.detect_fts()`, `sqlite-utils search`) and Datasette's search box look
-- for. The triggers feed it the text with Arabic ي ى ك folded to Persian ی ک and ё to е, so
-- `مشکل` finds `مشكل` and `елка` finds `ёлка` (tgparser/search_tokens.py folds query words
-- alike; PostgreSQL's index folds the same letters). unicode61 itself folds case and Latin
-- diacritics. The folding keeps every letter a letter, so the words of the stored text and of
-- the indexed text line up and snippets highlight the right words.
-- A tool that rebuilds the index from the table (FTS5 'rebuild') indexes the unfolded text;
-- `tgparser db migrate` never does.

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE messages_fts USING fts5(
    text,
    content="messages",
    content_rowid="rowid",
    tokenize="unicode61 remove_diacritics 2"
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (
        new.rowid,
        replace(replace(replace(replace(replace(new.text, 'ي', 'ی'), 'ك', 'ک'), 'ى', 'ی'), 'ё', 'е'), 'Ё', 'е')
    );
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES (
        'delete',
        old.rowid,
        replace(replace(replace(replace(replace(old.text, 'ي', 'ی'), 'ك', 'ک'), 'ى', 'ی'), 'ё', 'е'), 'Ё', 'е')
    );
END;

-- Refreshed counters rewrite a row without touching its text: only an edit reindexes it.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.text IS NOT new.text BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES (
        'delete',
        old.rowid,
        replace(replace(replace(replace(replace(old.text, 'ي', 'ی'), 'ك', 'ک'), 'ى', 'ی'), 'ё', 'е'), 'Ё', 'е')
    );
    INSERT INTO messages_fts (rowid, text) VALUES (
        new.rowid,
        replace(replace(replace(replace(replace(new.text, 'ي', 'ی'), 'ك', 'ک'), 'ى', 'ی'), 'ё', 'е'), 'Ё', 'е')
    );
END;

-- The rows an existing archive already has.
INSERT INTO messages_fts (rowid, text)
SELECT
    rowid,
    replace(replace(replace(replace(replace(text, 'ي', 'ی'), 'ك', 'ک'), 'ى', 'ی'), 'ё', 'е'), 'Ё', 'е')
FROM messages;
