-- Broadcasts, followers, and an outbox that knows which broadcast a row belongs to and can
-- cancel rows. SQLite cannot change a CHECK constraint in place, so the outbox is rebuilt.
CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    station_id TEXT REFERENCES stations(id),  -- NULL: the whole county
    audience TEXT NOT NULL CHECK (audience IN ('station', 'followers', 'county')),
    wish_id INTEGER REFERENCES wishes(id),
    text TEXT NOT NULL,
    photos TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'done', 'cancelled')),
    total INTEGER NOT NULL,
    progress_chat_id TEXT,
    progress_message_id TEXT,
    progress_at TEXT,
    finished_at TEXT,
    idempotency_key TEXT UNIQUE
);

CREATE TABLE followers (
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (wish_id, user_id)
);

CREATE TABLE outbox_new (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id),
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    wish_id INTEGER REFERENCES wishes(id),
    broadcast_id INTEGER REFERENCES broadcasts(id),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'dead', 'unreachable', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT,
    sent_message_id TEXT
);
INSERT INTO outbox_new (id, created_at, channel, chat_id, user_id, priority, kind, payload, wish_id,
    status, attempts, next_attempt_at, last_error, sent_at, sent_message_id)
    SELECT id, created_at, channel, chat_id, user_id, priority, kind, payload, wish_id,
    status, attempts, next_attempt_at, last_error, sent_at, sent_message_id FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, priority, id);
CREATE INDEX outbox_chat ON outbox (chat_id, status, id);
CREATE INDEX outbox_broadcast ON outbox (broadcast_id, status);
CREATE INDEX users_station ON users (station_id);
