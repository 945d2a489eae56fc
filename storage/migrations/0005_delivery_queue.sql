-- The dispatcher's work queue: pending rows in the order they go out (most urgent first, then
-- oldest), small because sent rows leave it. Picking the next batch from 6 000 pending rows among
-- a long history then reads a few index pages instead of sorting every pending row.
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (priority, id, next_attempt_at, chat_id)
    WHERE status = 'pending';
