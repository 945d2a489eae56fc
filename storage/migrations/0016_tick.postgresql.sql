-- PostgreSQL variant of 0016_tick.sql: the same, then ANALYZE, so the planner knows at once how
-- few wishes have these marks (columns without statistics would be read by a full scan).
-- The scheduler's minute (issue 12): when each open wish's reminders next need looking at (the
-- "soon" moment of its next deadline, or the deadline itself), so the minute's query reads the
-- wishes whose moment has come from this index, instead of every open wish with a deadline
-- (overdue ones already escalated included, a number that grows with the deployment's backlog).
-- NULL: nothing more to send for its current due dates. Set by every event on the wish and by
-- the scheduler after each look (bot/supervision.py, bot/domain/deadlines.py).
ALTER TABLE wishes ADD COLUMN remind_at TEXT;
-- Made before the rows are set, which then enter it as they change (on PostgreSQL, an index
-- built over rows just updated in its own transaction is unusable while older ones run).
CREATE INDEX wishes_remind ON wishes (remind_at) WHERE remind_at IS NOT NULL;
-- Open wishes with a deadline whose escalation is not queued yet: looked at by the first tick
-- ('' comes before every time), which sets each one's next moment.
UPDATE wishes SET remind_at = '' WHERE status IN ('submitted','assigned','in_progress','reopened')
    AND ((resolve_due_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reminders_sent r
        WHERE r.wish_id = wishes.id AND r.kind = 'escalate_resolve'
        AND r.due_at = wishes.resolve_due_at))
    OR (status IN ('submitted','assigned','reopened') AND accept_due_at IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM reminders_sent r WHERE r.wish_id = wishes.id
        AND r.kind = 'escalate_accept' AND r.due_at = wishes.accept_due_at)));
-- The residents' 回访 (issue 12): a resolved wish whose rating reminder, and one whose
-- follow-up question, is still to be looked at, so the minute's queries read those few from
-- these indexes, not every unrated resolved wish nor every wish resolved in the follow-up's
-- 30-day window (each checked against what was sent). Set (1) by the resolution, cleared (NULL)
-- once the scheduler has queued it (or found it queued), for the rating reminder also when the
-- wish leaves `resolved`, for the follow-up when it is past its window (bot/supervision.py).
ALTER TABLE wishes ADD COLUMN rating_reminder_due INTEGER;
ALTER TABLE wishes ADD COLUMN follow_up_due INTEGER;
CREATE INDEX wishes_rating_reminder_due ON wishes (resolved_at) WHERE rating_reminder_due = 1;
CREATE INDEX wishes_follow_up_due ON wishes (resolved_at) WHERE follow_up_due = 1;
UPDATE wishes SET rating_reminder_due = 1 WHERE status = 'resolved' AND rating IS NULL
    AND resolved_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM reminders_sent r
    WHERE r.wish_id = wishes.id AND r.kind = 'rating_reminder' AND r.due_at = wishes.resolved_at);
UPDATE wishes SET follow_up_due = 1 WHERE status IN ('resolved','closed')
    AND resolved_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM follow_ups f
    WHERE f.wish_id = wishes.id AND f.resolved_at = wishes.resolved_at);
-- The daily digest's overdue section (storage/supervision.py overdue_by_station): each
-- station's open wishes past a deadline counted, and its first ten listed, from this index
-- alone, which holds the open wishes only (not the closed history).
CREATE INDEX wishes_open_due ON wishes (station_id, resolve_due_at, accept_due_at, status,
    receipt, id) WHERE status IN ('submitted','assigned','in_progress','reopened');
ANALYZE wishes;
