-- WeChat channel (issue 10): per-account push state the channel needs to pick a path.

-- The 客服 window of each resident (openid): opened by a message (48 h, 5 messages) or by a
-- follow / scan / menu click (1 minute, 3 messages); `sent` counts 客服 messages since.
CREATE TABLE wechat_windows (
    openid TEXT PRIMARY KEY,
    opened_at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'event')),
    sent INTEGER NOT NULL DEFAULT 0
);

-- One-time subscription consents (订阅通知): one message each, used up when sent.
CREATE TABLE wechat_consents (
    openid TEXT NOT NULL,
    template_id TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (openid, template_id)
);

-- Cards to show at the resident's next message: those no path could deliver (waiting=1, the
-- "waiting" count of reports) and the full text of those a template only summarised (waiting=0).
CREATE TABLE wechat_waiting (
    id INTEGER PRIMARY KEY,
    openid TEXT NOT NULL,
    payload TEXT NOT NULL,
    waiting INTEGER NOT NULL DEFAULT 1,
    wish_id INTEGER,
    created_at TEXT NOT NULL,
    shown_at TEXT
);
CREATE INDEX wechat_waiting_open ON wechat_waiting (openid, shown_at);

-- The numbered options last shown to a resident: number -> encoded action (bot/actions.py).
CREATE TABLE wechat_options (
    openid TEXT NOT NULL,
    number INTEGER NOT NULL,
    action TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (openid, number)
);

-- How each notice about a wish reached a WeChat resident (custom, template, subscription,
-- waiting): the wish's delivery timeline on this channel.
CREATE TABLE wechat_deliveries (
    id INTEGER PRIMARY KEY,
    wish_id INTEGER NOT NULL,
    openid TEXT NOT NULL,
    path TEXT NOT NULL CHECK (path IN ('custom', 'template', 'subscription', 'waiting', 'shown')),
    at TEXT NOT NULL
);
CREATE INDEX wechat_deliveries_wish ON wechat_deliveries (wish_id, id);
