-- 3: the web inbox: editors' feedback, full-text search over stored articles, lookups by article
CREATE TABLE feedback (
    article_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    who TEXT NOT NULL,
    useful INTEGER NOT NULL CHECK (useful IN (0, 1)),
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (article_id, rule, who)
);
CREATE INDEX feedback_rule ON feedback (rule);
CREATE INDEX outbox_article ON outbox (article_id);
CREATE INDEX outbox_created ON outbox (created);
CREATE INDEX matches_created ON matches (created);
-- 'simple': no stemming or stop words, so every language is searched alike; lower-cased
-- with ICU's root collation, so letters beyond ASCII fold too whatever the database's locale
-- (the search lower-cases its words the same way); the text is cut at 200,000 characters
-- (a tsvector holds at most 1 MB); adding the column indexes the rows stored before this
ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig, lower(left(title || ' ' || text, 200000) COLLATE "und-x-icu"))
) STORED;
CREATE INDEX articles_search ON articles USING GIN (search);
CREATE INDEX articles_created ON articles (created);
