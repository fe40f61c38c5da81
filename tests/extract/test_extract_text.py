"""How the text of a block is put together from its markup: spaces, line breaks, hidden text."""

from __future__ import annotations

from monitor.extract import extract_article


def test_markup_whitespace_between_inline_elements_separates_words() -> None:
    html = (
        "<p><b>The</b> <i>harbour</i><span> </span><a href='/h'>reopened</a> <!-- note -->"
        "<em>on</em>\n<img src='x.png'><strong>Monday</strong> <span><b>after</b> </span>"
        "<a href='/s'><b>the</b>\n</a>storms.</p>"
    )
    assert extract_article(html).text == "The harbour reopened on Monday after the storms."


def test_no_space_is_added_where_the_markup_has_none() -> None:
    html = "<p><b>T</b>he harbour re<i>opened</i> on <a href='/m'>Mon</a>day.</p>"
    assert extract_article(html).text == "The harbour reopened on Monday."


def test_br_and_pre_break_lines() -> None:
    html = (
        "<p>The harbour reopened.<br>Ships left at dawn.</p>"
        "<pre><b>Tide at 06:10.</b>\n<b>Wind from the west.</b></pre>"
    )
    assert extract_article(html).text == (
        "The harbour reopened.\nShips left at dawn.\n\nTide at 06:10.\nWind from the west."
    )


def test_hidden_elements_are_skipped() -> None:
    html = (
        "<p>The harbour <span style='display: none'>secret</span>reopened "
        "<span hidden>hidden</span><a aria-hidden='true' href='/x'>icon</a>on Monday.</p>"
    )
    assert extract_article(html).text == "The harbour reopened on Monday."


def test_a_hidden_block_does_not_join_the_words_around_it() -> None:
    html = "<div><b>The harbour</b> <div hidden>Menu</div>reopened on Monday.</div>"
    assert extract_article(html).text == "The harbour reopened on Monday."


def test_removed_element_leaves_the_words_around_it_apart() -> None:
    html = "<p><b>The harbour</b> <span class='ad'>Advert</span>reopened on Monday.</p>"
    assert extract_article(html, remove=[".ad"]).text == "The harbour reopened on Monday."


def test_unknown_elements_flow_inline_and_never_text_elements_are_skipped() -> None:
    html = (
        "<p><x-card>The harbour</x-card> <my-tag>reopened</my-tag><svg><text>icon</text></svg>"
        " on<script>var a = 1;</script> Monday<!-- note -->.<select><option>Menu</option>"
        "</select></p>"
    )
    assert extract_article(html).text == "The harbour reopened on Monday."
