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
-- search_fold: what the search index and every search query are read as, the matcher's
-- normalisation (monitor/match/tokens.py) in SQL: NFKC; Arabic and Persian letter forms
-- folded (alef wasla, teh marbuta, heh forms, alef maksura, Farsi yeh, yeh barree, keheh),
-- Arabic-Indic and Persian digits to 0-9, tatweel, zero-width (non-)joiners and soft hyphens
-- dropped; accents stripped (NFKD, then the combining marks of the Latin, Greek, Cyrillic,
-- Hebrew and Arabic blocks and the combining-mark blocks dropped); lower-cased with ICU's
-- root collation, so letters beyond ASCII fold whatever the database's locale. Names are
-- schema-qualified so a restore (empty search_path) reads the function as written.
CREATE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
SELECT pg_catalog.lower(pg_catalog.regexp_replace(pg_catalog.normalize(pg_catalog.translate(
    pg_catalog.normalize(t, 'NFKC'),
    U&'\0671\0629\06C0\06C1\06C2\0649\06CC\06D2\06A9\0660\0661\0662\0663\0664\0665\0666\0667\0668\0669\06F0\06F1\06F2\06F3\06F4\06F5\06F6\06F7\06F8\06F9\0640\200C\200D\00AD',
    U&'\0627\0647\0647\0647\0647\064A\064A\064A\0643' || '01234567890123456789'
), 'NFKD'),
    U&'[\0300-\036F\0483-\0489\0591-\05BD\05BF\05C1\05C2\05C4\05C5\05C7\0610-\061A\064B-\065F\0670\06D6-\06DC\06DF-\06E4\06E7\06E8\06EA-\06ED\1AB0-\1AFF\1DC0-\1DFF\20D0-\20FF\FE20-\FE2F]',
    '', 'g') COLLATE pg_catalog."und-x-icu")
$$;
-- 'simple': no stemming or stop words, so every language is searched alike; the text is cut
-- at 200,000 characters (a tsvector holds at most 1 MB); adding the column indexes the rows
-- stored before this
ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig, search_fold(left(title || ' ' || text, 200000)))
) STORED;
CREATE INDEX articles_search ON articles USING GIN (search);
CREATE INDEX articles_created ON articles (created);
