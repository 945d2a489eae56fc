-- Each wish's first response by a handler (the earliest wish_events.at of an accept, reply,
-- resolve, decline or transfer by a deputy or staff: storage/repositories.py RESPONSE_ACTIONS), kept
-- on the wish when the event is written (WishesRepo.add_event) instead of looked up per wish in
-- wish_events: a county's year of /stats read 85 000 correlated sub-queries for its medians.
ALTER TABLE wishes ADD COLUMN first_response_at TEXT;
UPDATE wishes SET first_response_at = (
    SELECT MIN(e.at) FROM wish_events e WHERE e.wish_id = wishes.id
    AND e.action IN ('accept','reply','resolve','decline','transfer')
    AND e.role IN ('deputy','staff'));
-- The durations the medians need are read from the index alone (storage/report_counts.py
-- durations), as the counts are: the column joins the report index of 0013.
DROP INDEX wishes_report;
CREATE INDEX wishes_report ON wishes (station_id, created_at, category_id, deputy_id, status,
    accepted_at, resolved_at, closed_at, rating, reopen_count, accept_due_at, resolve_due_at,
    first_response_at);
-- Wishes older than the supervision feature have no stored due dates and are counted in
-- Python (report_counts.undated): this finds those few without scanning the period.
CREATE INDEX wishes_undated ON wishes (station_id, created_at)
    WHERE accept_due_at IS NULL OR resolve_due_at IS NULL;
