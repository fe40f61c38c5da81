-- 5: work shared by several daemons: every claim names its daemon and runs out unless renewed
ALTER TABLE feeds RENAME COLUMN lease_owner TO claimed_by;
ALTER TABLE outbox RENAME COLUMN leased_until TO lease_until;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
CREATE INDEX outbox_claimed ON outbox (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX feeds_claimed ON feeds (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE TABLE daemons (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    version TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    started REAL NOT NULL,
    heartbeat REAL NOT NULL,
    lease REAL NOT NULL,
    stopped REAL,
    reloaded REAL,
    reload_problems TEXT
);
