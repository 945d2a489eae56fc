-- PostgreSQL variant of 0011_desk.sql: BYTEA for the bytes (SQLite: BLOB).
-- The desk of deputies and staff on the web: files made for one person (the /stats chart, the
-- /export workbook), kept briefly so that person's browser can fetch them. Exports hold personal
-- data: each row expires (an hour) and the retention job deletes it after that.
CREATE TABLE web_files (
    id TEXT PRIMARY KEY,              -- random, unguessable; the URL is /f/<id>
    account TEXT NOT NULL,            -- the only web account (session) it is served to
    filename TEXT NOT NULL,
    mime TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_files_expires ON web_files (expires_at);
