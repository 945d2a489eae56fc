-- The web channel (web/): what the dispatcher delivered to web accounts (pull: shown and
-- streamed when the person looks), the receipt access codes (hashed), one-time login links
-- (hashed), uploads and the cookie-signing secret when LIAISON_WEB_SECRET is unset.
CREATE TABLE web_messages (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,            -- the web account (visitor id) the message is for
    payload TEXT NOT NULL,            -- OutMessage.to_payload() as JSON
    created_at TEXT NOT NULL
);
CREATE INDEX web_messages_account ON web_messages (account, id);

CREATE TABLE web_access_codes (
    wish_id INTEGER PRIMARY KEY REFERENCES wishes(id),
    code_hash TEXT NOT NULL
);

CREATE TABLE web_login_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE TABLE web_uploads (
    id TEXT PRIMARY KEY,              -- random, also the file name (<id>.jpg) under the data dir
    account TEXT NOT NULL,            -- who uploaded it
    wish_id INTEGER REFERENCES wishes(id),
    created_at TEXT NOT NULL
);

CREATE TABLE web_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A web account that opened a wish with its receipt and access code (another device).
CREATE TABLE web_grants (
    account TEXT NOT NULL,
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (account, wish_id)
);

-- Form keys already used: a replayed POST changes nothing.
CREATE TABLE web_used_keys (
    key TEXT PRIMARY KEY,
    used_at TEXT NOT NULL
);

-- A browser logged in by a one-time link as a deputy or staff member (web account -> person).
CREATE TABLE web_logins (
    account TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL
);
