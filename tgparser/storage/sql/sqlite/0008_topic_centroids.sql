-- A topic's centroid ({term: weight}, ~100 terms) is stored as packed text instead of JSON:
-- its terms on one line and their weights on the next, each separated by one space ('' when
-- empty). A daily `topics build` reads every active topic's centroid; decoding thousands of
-- JSON objects term by term was a third of its time, the packed form is read with a few
-- C-level calls. Existing centroids are converted in place, in their JSON order; a weight is
-- written with 15 significant digits when that reads back as the same float, else with 17
-- (always exact).
ALTER TABLE topics ADD COLUMN centroid_packed TEXT NOT NULL DEFAULT '';
UPDATE topics SET centroid_packed = coalesce((
    SELECT group_concat(key, ' ') || char(10) || group_concat(weight, ' ')
    FROM (
        SELECT key, CASE WHEN CAST(printf('%!.15g', value) AS REAL) = value
                         THEN printf('%!.15g', value) ELSE printf('%!.17g', value) END AS weight
        FROM json_each(topics.centroid) ORDER BY id
    )
), '');
ALTER TABLE topics DROP COLUMN centroid;
ALTER TABLE topics RENAME COLUMN centroid_packed TO centroid;
