-- A person (users) may reach the station through several channels: each way in is an account.
-- users stays the person table (deputies, staff, wishes and the outbox reference users.id); its
-- channel/external_id/chat_id columns remain as the account the person was first known by.
-- Every existing user's account is copied over with its reachability, so nothing is lost.
CREATE TABLE user_accounts (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    started_at TEXT,
    unreachable_at TEXT,
    unreachable_reason TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (channel, external_id)
);

CREATE INDEX user_accounts_user ON user_accounts (user_id);

INSERT INTO user_accounts
    (user_id, channel, external_id, chat_id, started_at, unreachable_at, unreachable_reason,
     created_at)
SELECT id, channel, external_id, chat_id, started_at, unreachable_at, unreachable_reason, created_at
FROM users ORDER BY id;
