-- The centroid a topic's stored member scores and justifications were computed against (packed
-- text, as `centroid`). A daily `topics build` scores only the new members of a topic whose
-- centroid barely moved since its members were last all scored, and keeps the earlier members'
-- rows; it measures that drift against this centroid. NULL: the same as `centroid` (every
-- topic written before this migration had all its members scored against its centroid).
ALTER TABLE topics ADD COLUMN scored_centroid TEXT;
