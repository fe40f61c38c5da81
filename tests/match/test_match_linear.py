"""Differential tests: the linear-time sentence ends and NEAR pairing give exactly what their
first, quadratic definitions gave (kept in match_reference)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from match_reference import closest_of_all_pairs
from match_reference import units as reference_units

from monitor.match.compile import Compiled
from monitor.match.evaluate import DocText, Hits, closest_pair, near_evidence
from monitor.match.query import Near, Term, Unit
from monitor.match.tokens import tokenize, units

# ------------------------------------------------------------------ sentences and paragraphs

FRAGMENTS = [
    *["Iran", "oil", "U", "S", "Mr", "Sept", "no", "a", "J", "3", "5", "é", "Ωμέγα", "x_y"],
    *[".", ".", "!", "?", "...", "…", '"', "”", "“", ")", "(", "'", "’", ",", "-", ";", "_"],
    *[" ", " ", "\n", "\n\n", "\t", "\u00a0", "\n \n", "\u2003", "\r\n\r\n"],
    *["\u0301", "\u00ad", "\u200b", "?!", ".)", '."', "!”"],
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))
def test_units_are_the_regex_definition_on_any_mix(text: str) -> None:
    tokens = tokenize(text)
    assert units(text, tokens) == reference_units(text, tokens)


def ordinary_text(rng: random.Random, paragraphs: int) -> str:
    """News-like prose: sentences with abbreviations, initials, numbers, quotes, ellipses."""
    words = ["the", "minister", "said", "talks", "on", "oil", "and", "uranium", "in", "Vienna"]
    specials = ["Mr.", "Dr.", "U.S.", "J. Smith", "3.5", "Sept.", "Inc.", "e.g.", "No.", "Iran's"]
    ends = [". ", ". ", "! ", "? ", '." ', ".” ", "...", "… ", ".) ", "?! "]
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(rng.randint(1, 6)):
            n = rng.randint(3, 25)
            sentence = [rng.choice(specials if rng.random() < 0.15 else words) for _ in range(n)]
            sentences.append(" ".join(sentence).capitalize() + rng.choice(ends))
        out.append("".join(sentences))
    return rng.choice(["\n\n", "\n \n", "\n\n\n"]).join(out)


def test_units_are_the_regex_definition_on_ordinary_text() -> None:
    rng = random.Random(9)
    for _ in range(20):
        text = ordinary_text(rng, rng.randint(1, 60))
        tokens = tokenize(text)
        assert units(text, tokens) == reference_units(text, tokens)


# ------------------------------------------------------------------ NEAR pairs

A, B = (Term("a", ("a",)),), (Term("b", ("b",)),)
GAPS = [" ", " ", " ", ". ", "! ", "\n\n", " Mr. "]


def random_doc(rng: random.Random) -> DocText:
    def field(n: int) -> str:
        return "".join(f"w{rng.choice(GAPS)}" for _ in range(n))

    return DocText.of(field(rng.randint(0, 12)), field(rng.randint(1, 40)))


def random_occurrences(rng: random.Random, doc: DocText, count: int) -> list[tuple[int, int]]:
    """Occurrences of 1 to 3 tokens inside one field, in any order, some repeated."""
    tl, total = doc.title_length, doc.title_length + len(doc.body_tokens)
    out: list[tuple[int, int]] = []
    for _ in range(count):
        if out and rng.random() < 0.1:
            out.append(rng.choice(out))
            continue
        start = rng.randrange(total)
        field_end = tl if start < tl else total
        out.append((start, min(field_end, start + rng.randint(1, 3))))
    return out


def test_closest_pair_is_the_all_pairs_definition() -> None:
    rng = random.Random(2024)
    units_: list[Unit] = ["words", "words", "sentence", "paragraph"]
    for _ in range(4000):
        doc = random_doc(rng)
        hits = Hits(doc, {})
        unit = rng.choice(units_)
        near = Near(A, B, unit, rng.randint(0, 6) if unit == "words" else 0, rng.random() < 0.3)
        left = random_occurrences(rng, doc, rng.randint(1, 8))
        right = random_occurrences(rng, doc, rng.randint(1, 8))
        ids = None if unit == "words" else hits.unit_ids(unit)
        expected = closest_of_all_pairs(
            unit, near.distance, near.ordered, left, right, doc.title_length, ids
        )
        assert closest_pair(hits, near, left, right) == expected, (near, left, right)


def reference_near_evidence(hits: Hits, near: Near, concepts: tuple[int, int]) -> object:
    """near_evidence as first written: every pair tried, then the same evidence."""
    from monitor.match.evaluate import NO_EVIDENCE, Evidence

    found = [hits.occurrences(c, None) for c in concepts]
    if not found[0] or not found[1]:
        return NO_EVIDENCE
    ids = None if near.unit == "words" else hits.unit_ids(near.unit)
    closest = closest_of_all_pairs(
        near.unit, near.distance, near.ordered, *found, hits.text.title_length, ids
    )
    if closest is None:
        return NO_EVIDENCE
    (a, b, gap), paired_left, paired_right = closest
    used = {a, b}
    used.update(hits.shown(sorted(paired_left)))
    used.update(hits.shown(sorted(paired_right)))
    owner = {o: near.left[0] for o in found[0]}
    for o in found[1]:
        owner.setdefault(o, near.right[0])
    return Evidence(2, tuple((owner[o], o) for o in sorted(used)), (gap,))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["iran", "oil", "Iran", "x", ".", "!", "\n\n", "Mr."]), max_size=80),
    st.sampled_from(["NEAR/0", "NEAR/3", "ONEAR/2", "NEAR/s", "ONEAR/s", "NEAR/p", "ONEAR/p"]),
)
def test_near_evidence_is_the_all_pairs_evidence(words: list[str], op: str) -> None:
    """The words, distances and spans an alert shows, for many occurrences of each side."""
    body = " ".join(words)
    left, right = Term("iran", ("iran",)), Term("oil", ("oil",))
    amount = op.split("/")[1]
    unit: Unit = "sentence" if amount == "s" else "paragraph" if amount == "p" else "words"
    near = Near((left,), (right,), unit, int(amount) if unit == "words" else 0, op[0] == "O")
    compiled = Compiled()
    concepts = (compiled.concept(left, {}), compiled.concept(right, {}))
    text = DocText.of("Iran and oil", body)
    hits = Hits(text, compiled.index.scan(text))
    sides = (((left, concepts[0]),), ((right, concepts[1]),))
    got = near_evidence(hits, near, sides, None, 1)
    assert got == reference_near_evidence(Hits(text, hits.occ), near, concepts)
