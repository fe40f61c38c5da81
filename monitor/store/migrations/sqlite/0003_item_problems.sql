-- 3: items that could not be processed whole, the latest problem of each
CREATE TABLE item_problems (
    feed TEXT NOT NULL,
    item_key TEXT NOT NULL,
    stage TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('partial', 'failed')),
    error TEXT NOT NULL,
    article_id TEXT,
    first_at REAL NOT NULL,
    at REAL NOT NULL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (feed, item_key)
) WITHOUT ROWID;
CREATE INDEX item_problems_at ON item_problems (at);
