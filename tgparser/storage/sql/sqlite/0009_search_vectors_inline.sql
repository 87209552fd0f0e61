-- PostgreSQL only: its search vectors move into the row (see the PostgreSQL file of the same
-- number). SQLite's FTS5 index keeps its own storage: nothing changes here.
SELECT 1;
