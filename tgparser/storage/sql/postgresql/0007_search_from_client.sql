-- The search vector may come from the writer: `messages.search` becomes a plain tsvector column.
--
-- Computing to_tsvector('simple', search_text(text)) for every message was most of the
-- server's work in `db copy` (the big character class, once per message). `db copy` now cuts
-- the words on the client (tgparser/search_tokens.py, the same rules; a test checks both
-- agree) and sends the vector with the row, so the server only reads it while the client
-- works on the other core. The trigger below computes it, as before, for every row written
-- without it (an ingest, another tool's INSERT, a text whose words hold a character the
-- server's locale may read otherwise) and when the text changes without a new vector. A
-- counters refresh, which rewrites a row but not its text, no longer recomputes it (a
-- generated column is recomputed on every update, which also ruled out HOT updates).
-- The vectors an archive holds are kept as they are: the same words either way.

DO $search$
BEGIN
    IF current_setting('server_version_num')::int >= 130000 THEN
        ALTER TABLE messages ALTER COLUMN search DROP EXPRESSION;
    ELSE  -- PostgreSQL 12 cannot drop a generation expression: move the values over
        ALTER TABLE messages ADD COLUMN search_plain tsvector;
        UPDATE messages SET search_plain = search;
        DROP INDEX messages_search;
        ALTER TABLE messages DROP COLUMN search;
        ALTER TABLE messages RENAME COLUMN search_plain TO search;
        CREATE INDEX messages_search ON messages USING gin (search);
    END IF;
    IF current_setting('server_version_num')::int >= 140000 THEN
        BEGIN
            ALTER TABLE messages ALTER COLUMN search SET COMPRESSION lz4;
        EXCEPTION WHEN feature_not_supported THEN
            NULL;  -- a server built without lz4 keeps pglz
        END;
    END IF;
END
$search$;

CREATE FUNCTION messages_search_fill() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF NEW.search IS NULL OR (
        TG_OP = 'UPDATE' AND NEW.text IS DISTINCT FROM OLD.text
        AND NEW.search IS NOT DISTINCT FROM OLD.search
    ) THEN
        NEW.search := to_tsvector('simple', search_text(NEW.text));
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER messages_search_fill BEFORE INSERT OR UPDATE OF text, search ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_search_fill();
