-- 7: the web inbox: editors' feedback, full-text search over stored articles, lookups by article
CREATE TABLE feedback (
    article_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    who TEXT NOT NULL,
    useful INTEGER NOT NULL CHECK (useful IN (0, 1)),
    at REAL NOT NULL,
    PRIMARY KEY (article_id, rule, who)
) WITHOUT ROWID;
CREATE INDEX feedback_rule ON feedback (rule);
CREATE INDEX outbox_article ON outbox (article_id);
CREATE INDEX outbox_created ON outbox (created);
CREATE INDEX matches_created ON matches (created);
-- an external-content FTS5 index over articles (title, text), kept in step by triggers
CREATE VIRTUAL TABLE articles_fts USING fts5(
    title, text, content='articles', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, text)
    VALUES ('delete', old.rowid, old.title, old.text);
    INSERT INTO articles_fts (rowid, title, text) VALUES (new.rowid, new.title, new.text);
END;
-- the articles stored before this migration
INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
