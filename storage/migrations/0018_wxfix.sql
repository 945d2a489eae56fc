-- The inbox in the order it was stored (branch wxfix). `seq` numbers each row as it is stored,
-- so the start-up replay of a channel whose ids say nothing about arrival (WeChat: a message's
-- id is its MsgId, an event's a negative hash of who sent it and when) handles a person's
-- pushes in the order they came, as the live per-person turn does. Telegram's update ids are
-- its arrival order already and stay its replay order (storage/repositories.py inbox_pending).
-- SQLite: a trigger gives each new row the next number, the largest so far + 1 (a rowid may be
-- renumbered by VACUUM; the stored number is not). Rows already stored are numbered in rowid
-- order, the order they were inserted in. PostgreSQL: 0018_wxfix.postgresql.sql.
ALTER TABLE inbox ADD COLUMN seq INTEGER;
UPDATE inbox SET seq = rowid;
CREATE INDEX inbox_arrival ON inbox (seq);
CREATE TRIGGER inbox_number AFTER INSERT ON inbox FOR EACH ROW WHEN NEW.seq IS NULL
BEGIN
    UPDATE inbox SET seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM inbox) WHERE rowid = NEW.rowid;
END;
