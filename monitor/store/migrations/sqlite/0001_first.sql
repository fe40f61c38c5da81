-- 1: the first schema
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_attempt REAL,
    last_success REAL,
    next_check REAL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since REAL,
    last_error TEXT
);
CREATE TABLE seen_items (
    feed TEXT NOT NULL,
    item_key TEXT NOT NULL,
    article_id TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (feed, item_key)
) WITHOUT ROWID;
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published REAL,
    language TEXT,
    partial INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE matches (
    article_id TEXT NOT NULL REFERENCES articles(id),
    rule TEXT NOT NULL,
    evidence TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (article_id, rule)
) WITHOUT ROWID;
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    article_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    batch TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    leased_until REAL,
    sent_at REAL,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_batch ON outbox (channel, batch, status);
CREATE TABLE alert_rules (
    alert_id TEXT NOT NULL REFERENCES outbox(id),
    channel TEXT NOT NULL,
    rule TEXT NOT NULL,
    batched INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (alert_id, rule)
) WITHOUT ROWID;
CREATE INDEX alert_rules_recent ON alert_rules (rule, channel, created);
CREATE TABLE sketches (
    hash INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX sketches_hash ON sketches (hash, created);
CREATE INDEX sketches_article ON sketches (article_id);
CREATE TABLE notices (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    since REAL,
    notified REAL,
    last_error TEXT
);
CREATE TABLE delivery_attempts (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES outbox(id),
    channel TEXT NOT NULL,
    at REAL NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    status_code INTEGER,
    error TEXT
);
CREATE INDEX delivery_attempts_alert ON delivery_attempts (alert_id);
