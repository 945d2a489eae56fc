-- Stations, people and their roles are synced from the stations file; wishes and their
-- timelines are never deleted by a sync or by a state change.
CREATE TABLE stations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL DEFAULT '',
    reception TEXT NOT NULL DEFAULT '',
    wall_chat_id TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE categories (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    started_at TEXT,
    unreachable_at TEXT,
    unreachable_reason TEXT,
    stopped INTEGER NOT NULL DEFAULT 0,
    station_id TEXT REFERENCES stations(id),
    created_at TEXT NOT NULL,
    UNIQUE (channel, external_id)
);

CREATE TABLE deputies (
    id INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL REFERENCES stations(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    categories TEXT NOT NULL DEFAULT '[]',
    active INTEGER NOT NULL DEFAULT 1,
    last_assigned_seq INTEGER NOT NULL DEFAULT 0,
    UNIQUE (station_id, user_id)
);

CREATE TABLE station_staff (
    station_id TEXT NOT NULL REFERENCES stations(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    active INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (station_id, user_id)
);

CREATE TABLE receipt_counters (
    station_id TEXT NOT NULL REFERENCES stations(id),
    year INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (station_id, year)
);

CREATE TABLE wishes (
    id INTEGER PRIMARY KEY,
    station_id TEXT NOT NULL REFERENCES stations(id),
    receipt TEXT NOT NULL UNIQUE,
    resident_id INTEGER NOT NULL REFERENCES users(id),
    category_id TEXT NOT NULL,
    text TEXT NOT NULL,
    public INTEGER NOT NULL DEFAULT 0,
    phone TEXT,
    status TEXT NOT NULL,
    deputy_id INTEGER REFERENCES deputies(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    accepted_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    result TEXT,
    decline_reason TEXT,
    rating TEXT,
    reopen_count INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT UNIQUE
);
CREATE INDEX wishes_station_status ON wishes (station_id, status);
CREATE INDEX wishes_resident ON wishes (resident_id);
CREATE INDEX wishes_deputy_status ON wishes (deputy_id, status);

CREATE TABLE wish_attachments (
    id INTEGER PRIMARY KEY,
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    kind TEXT NOT NULL CHECK (kind IN ('photo', 'location')),
    file_ref TEXT,
    latitude REAL,
    longitude REAL
);
CREATE INDEX wish_attachments_wish ON wish_attachments (wish_id);

CREATE TABLE wish_events (
    id INTEGER PRIMARY KEY,
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    role TEXT NOT NULL,
    actor_user_id INTEGER REFERENCES users(id),
    from_status TEXT,
    to_status TEXT,
    deputy_id INTEGER REFERENCES deputies(id),
    body TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT UNIQUE
);
CREATE INDEX wish_events_wish ON wish_events (wish_id, id);

-- Every message to anyone but the person being answered goes through here, written in the
-- same transaction as the change that caused it; one dispatcher delivers it.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    user_id INTEGER REFERENCES users(id),
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    wish_id INTEGER REFERENCES wishes(id),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'dead', 'unreachable')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT,
    sent_message_id TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, priority, id);
CREATE INDEX outbox_chat ON outbox (chat_id, status, id);

-- Which wish a delivered message is about, so a Telegram reply to it reaches that wish.
CREATE TABLE message_links (
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    PRIMARY KEY (channel, chat_id, message_id)
);

-- Multi-step flows (a wish being written, a resolution being typed) survive restarts.
CREATE TABLE sessions (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    flow TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Incoming updates are stored before their offset is confirmed to the platform.
CREATE TABLE inbox (
    channel TEXT NOT NULL,
    update_id INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    processed_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, update_id)
);
CREATE INDEX inbox_pending ON inbox (processed_at, update_id);

CREATE TABLE faq_misses (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    station_id TEXT,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
