-- 2: operators' steering: a rule muted until a time, a channel paused (its alerts wait)
CREATE TABLE rule_mutes (
    rule TEXT PRIMARY KEY,
    until DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE TABLE channel_pauses (
    channel TEXT PRIMARY KEY,
    since DOUBLE PRECISION NOT NULL
);
