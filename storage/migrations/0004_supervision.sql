-- Supervision (督办): due dates on every wish, the deadline policy synced from the stations
-- file, and what the scheduler has done, so a restart neither loses nor repeats a reminder.
ALTER TABLE wishes ADD COLUMN accept_due_at TEXT;
ALTER TABLE wishes ADD COLUMN resolve_due_at TEXT;
CREATE INDEX wishes_resolve_due ON wishes (status, resolve_due_at);

-- The effective policy of each station and category ('' : the station's default).
CREATE TABLE deadline_policies (
    station_id TEXT NOT NULL,
    category_id TEXT NOT NULL DEFAULT '',
    accept_days INTEGER NOT NULL,
    resolve_days INTEGER NOT NULL,
    working_days_only INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (station_id, category_id)
);

-- One row per reminder queued: inserted in the same transaction as its outbox row.
-- target: the deputy reminded, 0 for the station's staff.
CREATE TABLE reminders_sent (
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    kind TEXT NOT NULL,
    due_at TEXT NOT NULL,
    target INTEGER NOT NULL DEFAULT 0,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (wish_id, kind, due_at, target)
);

-- The follow-up questionnaire (回访): asked once per resolution, answered at most once.
CREATE TABLE follow_ups (
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    resolved_at TEXT NOT NULL,
    asked_at TEXT NOT NULL,
    answer TEXT CHECK (answer IN ('resolved', 'unresolved', 'unsure')),
    answered_at TEXT,
    PRIMARY KEY (wish_id, resolved_at)
);

-- Daily digests: one per staff member and local day; `until` is where the next one starts.
CREATE TABLE digests_sent (
    user_id INTEGER NOT NULL REFERENCES users(id),
    day TEXT NOT NULL,
    since TEXT NOT NULL,
    until TEXT NOT NULL,
    items INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);

-- Supervision entries on a wish's timeline: escalations, pushes (催办), follow-up answers.
CREATE TABLE supervision_notes (
    id INTEGER PRIMARY KEY,
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    actor_user_id INTEGER REFERENCES users(id),
    body TEXT NOT NULL DEFAULT ''
);
CREATE INDEX supervision_notes_wish ON supervision_notes (wish_id, id);

-- Wishes resolved long before this feature existed are not followed up all at once.
INSERT INTO follow_ups (wish_id, resolved_at, asked_at, answer)
    SELECT id, resolved_at, resolved_at, NULL FROM wishes
    WHERE resolved_at IS NOT NULL AND status IN ('resolved', 'closed')
    AND resolved_at < strftime('%Y-%m-%dT%H:%M:%S', 'now', '-30 days');
INSERT INTO reminders_sent (wish_id, kind, due_at, target, sent_at)
    SELECT id, 'rating_reminder', resolved_at, 0, resolved_at FROM wishes
    WHERE resolved_at IS NOT NULL AND status = 'resolved'
    AND resolved_at < strftime('%Y-%m-%dT%H:%M:%S', 'now', '-3 days');
