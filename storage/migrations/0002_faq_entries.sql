-- FAQ entries staff add from the chat; merged with the FAQ file at load.
CREATE TABLE faq_entries (
    id TEXT PRIMARY KEY,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    alternates TEXT NOT NULL DEFAULT '[]',
    stations TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id)
);
CREATE INDEX faq_misses_at ON faq_misses (at);
