-- 6: operators' steering: a rule muted until a time, a channel paused (its alerts wait)
CREATE TABLE rule_mutes (
    rule TEXT PRIMARY KEY,
    until REAL NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE channel_pauses (
    channel TEXT PRIMARY KEY,
    since REAL NOT NULL
);
