-- A county's /stats sums its wishes' figures in SQL (storage/report_counts.py): every column
-- those sums read is in this index, so a year of 200 stations is read from the index alone
-- instead of fetching each wish's row (its text and result) from the table.
CREATE INDEX wishes_report ON wishes (station_id, created_at, category_id, deputy_id, status,
    accepted_at, resolved_at, closed_at, rating, reopen_count, accept_due_at, resolve_due_at);
