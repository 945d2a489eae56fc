-- A county's /stats at a province's size (2 000 stations, a million wishes a year) cannot count
-- every wish of its period at each request: the counts of *settled* wishes (finished, every
-- timestamp their figures read present, their due dates stored), which no longer change with
-- time, are kept per (station, local month) in report_rollup (a total, and one row per category
-- and per deputy: what /stats breaks a report down by), with their
-- durations per (station, month) in report_rollup_durations (storage/report_rollup.py,
-- bot/report_rollups.py). Wishes still open are few and counted live from wishes_unsettled.
-- The settled predicate below is storage/report_counts.py `settled`, written out for OLD, NEW and
-- the index (tests/unit/test_report_rollups.py checks the copies agree).
CREATE TABLE report_rollup (
    -- 't': the month's total, 'c': per category, 'd': per deputy; 'yt', 'yc', 'yd': the same
    -- summed over a local year (month holds YYYY), what a county's year reads
    dim TEXT NOT NULL,
    station_id TEXT NOT NULL,
    month TEXT NOT NULL,            -- YYYY-MM (or YYYY) in report_rollup_state.tz
    key TEXT NOT NULL,              -- '' (total), the category id, the deputy id ('0': none)
    n_received INTEGER NOT NULL,
    n_accepted INTEGER NOT NULL,
    n_resolved INTEGER NOT NULL,
    n_declined INTEGER NOT NULL,
    n_withdrawn INTEGER NOT NULL,
    n_open INTEGER NOT NULL,
    n_overdue INTEGER NOT NULL,
    n_finished INTEGER NOT NULL,
    n_on_time INTEGER NOT NULL,
    n_rated INTEGER NOT NULL,
    n_satisfied INTEGER NOT NULL,
    n_reopened INTEGER NOT NULL,
    PRIMARY KEY (dim, station_id, month, key)
);
-- Each settled wish's durations in seconds (float64, little-endian, one after another; a row per
-- month, and one per year (month holds YYYY) with its months' values together): medians
-- do not add up, so they are kept as values, read back as arrays.
CREATE TABLE report_rollup_durations (
    station_id TEXT NOT NULL,
    month TEXT NOT NULL,
    accept BLOB NOT NULL,
    resolve BLOB NOT NULL,
    response BLOB NOT NULL,
    PRIMARY KEY (station_id, month)
);
-- A station's rollup is used only once it has been built whole for this time zone (months are
-- local); a station without a row here is counted live.
CREATE TABLE report_rollup_state (
    station_id TEXT PRIMARY KEY,
    tz TEXT NOT NULL,
    built_at TEXT NOT NULL
);
-- A settled wish that changed, was added or went (its station and creation before and after):
-- written by the triggers in the same transaction as the change, so no path that writes wishes
-- (use cases, purge, retention, the scale bench's bulk load) can leave a rollup behind. Its
-- station is counted live until the scheduler rebuilds the cell and deletes the row.
CREATE TABLE report_rollup_stale (
    id INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX report_rollup_stale_station ON report_rollup_stale (station_id);
CREATE TRIGGER wishes_rollup_insert AFTER INSERT ON wishes
WHEN NEW.accept_due_at IS NOT NULL AND NEW.resolve_due_at IS NOT NULL AND ((NEW.status IN ('resolved','closed') AND NEW.resolved_at IS NOT NULL AND NEW.accepted_at IS NOT NULL) OR (NEW.status IN ('declined','withdrawn') AND NEW.closed_at IS NOT NULL))
BEGIN
    INSERT INTO report_rollup_stale (station_id, created_at) VALUES (NEW.station_id, NEW.created_at);
END;
CREATE TRIGGER wishes_rollup_delete AFTER DELETE ON wishes
WHEN OLD.accept_due_at IS NOT NULL AND OLD.resolve_due_at IS NOT NULL AND ((OLD.status IN ('resolved','closed') AND OLD.resolved_at IS NOT NULL AND OLD.accepted_at IS NOT NULL) OR (OLD.status IN ('declined','withdrawn') AND OLD.closed_at IS NOT NULL))
BEGIN
    INSERT INTO report_rollup_stale (station_id, created_at) VALUES (OLD.station_id, OLD.created_at);
END;
CREATE TRIGGER wishes_rollup_update AFTER UPDATE OF station_id, created_at, category_id,
    deputy_id, status, accepted_at, resolved_at, closed_at, rating, reopen_count, accept_due_at,
    resolve_due_at, first_response_at ON wishes
BEGIN
    INSERT INTO report_rollup_stale (station_id, created_at) SELECT OLD.station_id, OLD.created_at
    WHERE OLD.accept_due_at IS NOT NULL AND OLD.resolve_due_at IS NOT NULL AND ((OLD.status IN ('resolved','closed') AND OLD.resolved_at IS NOT NULL AND OLD.accepted_at IS NOT NULL) OR (OLD.status IN ('declined','withdrawn') AND OLD.closed_at IS NOT NULL));
    INSERT INTO report_rollup_stale (station_id, created_at) SELECT NEW.station_id, NEW.created_at
    WHERE NEW.accept_due_at IS NOT NULL AND NEW.resolve_due_at IS NOT NULL AND ((NEW.status IN ('resolved','closed') AND NEW.resolved_at IS NOT NULL AND NEW.accepted_at IS NOT NULL) OR (NEW.status IN ('declined','withdrawn') AND NEW.closed_at IS NOT NULL));
END;
-- The wishes not settled (open, or missing what their figures read), with every column the
-- report reads: a county's year counts them live from here, a few per station.
CREATE INDEX wishes_unsettled ON wishes (station_id, created_at, category_id, deputy_id, status,
    accepted_at, resolved_at, closed_at, rating, reopen_count, accept_due_at, resolve_due_at,
    first_response_at)
WHERE NOT (accept_due_at IS NOT NULL AND resolve_due_at IS NOT NULL AND ((status IN ('resolved','closed') AND resolved_at IS NOT NULL AND accepted_at IS NOT NULL) OR (status IN ('declined','withdrawn') AND closed_at IS NOT NULL)));
-- How many wishes each station has in each status, all time (the first lines of /stats): kept
-- by triggers as wishes are added, change status or station, or go, instead of counted over
-- the whole history at each /stats (2 000 000 wishes at a province's size).
CREATE TABLE station_status_counts (
    station_id TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (station_id, status)
);
INSERT INTO station_status_counts (station_id, status, n)
    SELECT station_id, status, COUNT(*) FROM wishes GROUP BY station_id, status;
CREATE TRIGGER wishes_status_count_insert AFTER INSERT ON wishes
BEGIN
    INSERT INTO station_status_counts (station_id, status, n) VALUES (NEW.station_id, NEW.status, 1)
    ON CONFLICT (station_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER wishes_status_count_delete AFTER DELETE ON wishes
BEGIN
    UPDATE station_status_counts SET n = n - 1 WHERE station_id = OLD.station_id AND status = OLD.status;
END;
CREATE TRIGGER wishes_status_count_update AFTER UPDATE OF station_id, status ON wishes
WHEN OLD.station_id IS NOT NEW.station_id OR OLD.status IS NOT NEW.status
BEGIN
    UPDATE station_status_counts SET n = n - 1 WHERE station_id = OLD.station_id AND status = OLD.status;
    INSERT INTO station_status_counts (station_id, status, n) VALUES (NEW.station_id, NEW.status, 1)
    ON CONFLICT (station_id, status) DO UPDATE SET n = n + 1;
END;
-- A county admin's /queue shows the 30 oldest open wishes of its stations and how many there
-- are: this index walks the open wishes oldest first (the station in the entry, no row read
-- to filter by it) and stops at 30, instead of loading and sorting 90 000 at a province's size.
CREATE INDEX wishes_open ON wishes (created_at, id, station_id)
    WHERE status IN ('submitted','assigned','in_progress','reopened');
