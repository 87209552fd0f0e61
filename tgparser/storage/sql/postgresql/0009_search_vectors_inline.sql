-- Keep each message's search vector in its row (STORAGE MAIN) instead of out of line in TOAST.
--
-- Ranked search (ts_rank_cd) reads the vector of every row that matches, and in a big archive
-- the matches are mostly long messages whose vectors the toaster had moved out of line: about
-- five buffer reads per match (heap page, TOAST index, chunks). With MAIN the toaster moves the
-- big `raw` and `text` out first and keeps the vector in the row, compressed, unless the row
-- still does not fit in a page. A 48k-row sample ranked 3.4 times faster; see docs/export.md.
-- The message's other variable-length columns become MAIN too: while a row is over the
-- toaster's 2 KB target, it moves every EXTENDED value bigger than a pointer out of line,
-- down to the 64-byte content_hash, which would cost a TOAST lookup each to read back.
-- Only `raw` and `text` stay EXTENDED: they are the big ones, and go first.
--
-- Setting the storage only changes rows written from now on, so the table is rewritten once:
-- a type change to the same type, with an expression that gives the same vector, makes
-- PostgreSQL rewrite every row (and rebuild the indexes) under the new storage, in this
-- migration's transaction. The type change would reset the storage and compression to the
-- type's defaults, so both are set in the same statement (lz4 kept where migration 7 set it).
-- The trigger names the column (UPDATE OF search), which a type change refuses: it is dropped
-- for the statement and made again as it was.

SET LOCAL maintenance_work_mem = '256MB';  -- the GIN index is built again

DROP TRIGGER messages_search_fill ON messages;

DO $inline$
DECLARE
    keep_lz4 boolean := false;
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        SELECT a.attcompression = 'l' INTO keep_lz4
        FROM pg_attribute a
        WHERE a.attrelid = 'messages'::regclass AND a.attname = 'search';
    END IF;
    EXECUTE 'ALTER TABLE messages '
        'ALTER COLUMN search TYPE tsvector USING search || ''''::tsvector, '
        'ALTER COLUMN search SET STORAGE MAIN, '
        'ALTER COLUMN kind SET STORAGE MAIN, '
        'ALTER COLUMN sender_name SET STORAGE MAIN, '
        'ALTER COLUMN post_author SET STORAGE MAIN, '
        'ALTER COLUMN entities SET STORAGE MAIN, '
        'ALTER COLUMN reactions SET STORAGE MAIN, '
        'ALTER COLUMN fwd_from_name SET STORAGE MAIN, '
        'ALTER COLUMN fwd_post_author SET STORAGE MAIN, '
        'ALTER COLUMN action SET STORAGE MAIN, '
        'ALTER COLUMN media_kind SET STORAGE MAIN, '
        'ALTER COLUMN media SET STORAGE MAIN, '
        'ALTER COLUMN content_hash SET STORAGE MAIN'
        || CASE WHEN keep_lz4 THEN ', ALTER COLUMN search SET COMPRESSION lz4' ELSE '' END;
END
$inline$;

CREATE TRIGGER messages_search_fill BEFORE INSERT OR UPDATE OF text, search ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_search_fill();
