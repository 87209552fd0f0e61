-- A topic's centroid ({term: weight}, ~100 terms) is stored as packed text instead of jsonb:
-- its terms on one line and their weights on the next, each separated by one space ('' when
-- empty). A daily `topics build` reads every active topic's centroid; decoding thousands of
-- JSON objects term by term was a third of its time, the packed form is read with a few
-- C-level calls. Existing centroids are converted in place, in the order jsonb keeps their
-- keys (the order a reader saw them in); jsonb numbers keep their decimal digits, so the
-- weights read back exactly.
ALTER TABLE topics ADD COLUMN centroid_packed text NOT NULL DEFAULT '';
UPDATE topics SET centroid_packed = coalesce((
    SELECT string_agg(e.key, ' ' ORDER BY e.n) || E'\n' || string_agg(e.value::text, ' ' ORDER BY e.n)
    FROM jsonb_each(topics.centroid) WITH ORDINALITY AS e (key, value, n)
), '');
ALTER TABLE topics DROP COLUMN centroid;
ALTER TABLE topics RENAME COLUMN centroid_packed TO centroid;
