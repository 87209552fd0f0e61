-- PostgreSQL only: the writer computes messages.search there (see the PostgreSQL file of the
-- same number). SQLite's FTS5 index is fed by its triggers, as before: nothing changes here.
SELECT 1;
