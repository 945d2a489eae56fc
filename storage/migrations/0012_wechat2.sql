-- Deputies and staff link another channel's account (a WeChat openid) to their person with a
-- one-time code from /web or `liaison-bot login-link` (issue 10). Codes are stored hashed,
-- used once, and expire; failed tries are kept (briefly) to limit guessing.
CREATE TABLE link_codes (
    code_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE TABLE link_attempts (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX link_attempts_account ON link_attempts (channel, external_id, at);
CREATE INDEX link_attempts_at ON link_attempts (at);
