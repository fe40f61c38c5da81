"""Near-identical articles: one story reached through several feeds under different links.

Each article body gets a bottom-k MinHash sketch: the `SKETCH_SIZE` smallest 63-bit hashes of
its 5-word shingles. Two texts whose sketches share at least `MIN_SHARED` of those values
are near-identical (a Jaccard similarity of roughly 0.8 or more: the same wire story with
a different headline, byline or footer). The store indexes the values, so finding a twin
among recent articles is one query, whatever the volume.
"""

from __future__ import annotations

import hashlib
import heapq
import re

SKETCH_SIZE = 16
MIN_SHARED = 12
MIN_WORDS = 40  # shorter texts (teasers, summaries) say too little to call them twins
_SHINGLE = 5
_WORD = re.compile(r"\w+")


def text_sketch(text: str) -> list[int]:
    """The sketch of `text`, or [] when it is too short to compare."""
    words = _WORD.findall(text.casefold())
    if len(words) < MIN_WORDS:
        return []
    hashes = {
        int.from_bytes(
            hashlib.blake2b(" ".join(words[i : i + _SHINGLE]).encode(), digest_size=8).digest(),
            "big",
        )
        >> 1  # 63 bits: fits SQLite's signed INTEGER
        for i in range(len(words) - _SHINGLE + 1)
    }
    return heapq.nsmallest(SKETCH_SIZE, hashes)
