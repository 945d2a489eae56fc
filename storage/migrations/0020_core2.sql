-- Where each public wish's 回音壁 post went (the platform's message id), recorded when it is
-- delivered: a wish reopened after its resolution was posted has that post withdrawn
-- (bot/notify.py withdraw_from_wall; Telegram deletes it, or edits it where it can no longer
-- be deleted). Ids only, nothing about a person.
CREATE TABLE wall_posts (
    wish_id INTEGER NOT NULL REFERENCES wishes(id),
    channel TEXT NOT NULL,
    chat_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    posted_at TEXT NOT NULL,
    PRIMARY KEY (channel, chat_id, message_id)
);
CREATE INDEX wall_posts_wish ON wall_posts (wish_id);
