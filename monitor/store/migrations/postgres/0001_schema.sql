-- 1: the whole schema (SQLite's migrations 1 to 5, in PostgreSQL's types)
CREATE TABLE feeds (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_attempt DOUBLE PRECISION,
    last_success DOUBLE PRECISION,
    next_check DOUBLE PRECISION,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since DOUBLE PRECISION,
    last_error TEXT,
    host TEXT,
    interval DOUBLE PRECISION,
    active INTEGER NOT NULL DEFAULT 1,
    gone INTEGER NOT NULL DEFAULT 0,
    moved_to TEXT,
    body_hash TEXT,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION,
    last_status TEXT,
    polls BIGINT NOT NULL DEFAULT 0,
    not_modified BIGINT NOT NULL DEFAULT 0,
    new_items BIGINT NOT NULL DEFAULT 0,
    last_new_item DOUBLE PRECISION,
    failures BIGINT NOT NULL DEFAULT 0,
    last_lateness DOUBLE PRECISION,
    lateness_sum DOUBLE PRECISION NOT NULL DEFAULT 0,
    ttl DOUBLE PRECISION
);
CREATE INDEX feeds_due ON feeds (next_check) WHERE active = 1 AND gone = 0;
CREATE INDEX feeds_claimed ON feeds (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE TABLE seen_items (
    feed TEXT NOT NULL,
    item_key TEXT NOT NULL,
    article_id TEXT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (feed, item_key)
);
CREATE INDEX seen_items_article ON seen_items (feed, article_id);
CREATE TABLE articles (
    id TEXT PRIMARY KEY,
    feed TEXT NOT NULL,
    url TEXT,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    published DOUBLE PRECISION,
    language TEXT,
    partial INTEGER NOT NULL DEFAULT 0,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE matches (
    article_id TEXT NOT NULL REFERENCES articles(id),
    rule TEXT NOT NULL,
    evidence TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (article_id, rule)
);
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    channel TEXT NOT NULL,
    article_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    batch TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    claimed_by TEXT,
    lease_until DOUBLE PRECISION,
    sent_at DOUBLE PRECISION,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_batch ON outbox (channel, batch, status);
CREATE INDEX outbox_claimed ON outbox (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX outbox_seq ON outbox (seq);
CREATE TABLE alert_rules (
    alert_id TEXT NOT NULL REFERENCES outbox(id),
    channel TEXT NOT NULL,
    rule TEXT NOT NULL,
    batched INTEGER NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (alert_id, rule)
);
CREATE INDEX alert_rules_recent ON alert_rules (rule, channel, created);
CREATE TABLE sketches (
    hash BIGINT NOT NULL,
    article_id TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX sketches_hash ON sketches (hash, created);
CREATE INDEX sketches_article ON sketches (article_id);
CREATE TABLE notices (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    since DOUBLE PRECISION,
    notified DOUBLE PRECISION,
    last_error TEXT
);
CREATE TABLE delivery_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES outbox(id),
    channel TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    status_code INTEGER,
    error TEXT
);
CREATE INDEX delivery_attempts_alert ON delivery_attempts (alert_id);
CREATE TABLE item_problems (
    feed TEXT NOT NULL,
    item_key TEXT NOT NULL,
    stage TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('partial', 'failed')),
    error TEXT NOT NULL,
    article_id TEXT,
    first_at DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    occurrences INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (feed, item_key)
);
CREATE INDEX item_problems_at ON item_problems (at);
CREATE TABLE daemons (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL,
    lease DOUBLE PRECISION NOT NULL,
    stopped DOUBLE PRECISION,
    reloaded DOUBLE PRECISION,
    reload_problems TEXT
);
