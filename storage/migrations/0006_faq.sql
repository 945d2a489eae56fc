-- Phrasings staff taught from /faq_gaps: a missed question becomes another way of asking an
-- existing entry (of the FAQ file or one added in chat). Merged into the entry at load;
-- `liaison-bot faq export FILE` writes them out with the rest of the FAQ.
CREATE TABLE faq_alternates (
    id INTEGER PRIMARY KEY,
    entry_id TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id),
    UNIQUE (entry_id, text)
);
