"""decode_html: BOM, then the HTTP header, then <meta>, then detection; never mojibake."""

from __future__ import annotations

import codecs

from monitor.extract import decode_html

FRENCH = (
    "<html><head><title>Élections</title></head><body><p>Le président a déclaré à la presse "
    "que les élections régionales auront lieu en février. « Nous sommes prêts », a-t-il "
    "ajouté, après une réunion à l'Élysée où l'on a évoqué la sécurité, l'économie et "
    "l'éducation.</p></body></html>"
)
RUSSIAN = (
    "Президент заявил журналистам, что региональные выборы пройдут в феврале. "
    "«Мы готовы», — добавил он после совещания, на котором обсуждались безопасность, "
    "экономика и образование."
)


def test_latin1_without_declaration() -> None:
    assert decode_html(FRENCH.encode("latin-1")) == FRENCH


def test_windows_1251_declared_in_meta() -> None:
    page = f'<html><head><meta charset="windows-1251"></head><body><p>{RUSSIAN}</p></body></html>'
    assert decode_html(page.encode("cp1251")) == page


def test_windows_1251_declared_by_http_equiv() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        f"</head><body><p>{RUSSIAN}</p></body></html>"
    )
    assert decode_html(page.encode("cp1251")) == page


def test_header_charset_wins_over_meta() -> None:
    page = f'<html><head><meta charset="utf-8"></head><body><p>{RUSSIAN}</p></body></html>'
    assert decode_html(page.encode("cp1251"), "text/html; charset=windows-1251") == page


def test_bom_wins_over_everything() -> None:
    page = f"<html><body><p>{RUSSIAN}</p></body></html>"
    data = codecs.BOM_UTF16_LE + page.encode("utf-16-le")
    assert decode_html(data, "text/html; charset=iso-8859-1") == page
    assert decode_html(codecs.BOM_UTF8 + page.encode("utf-8")) == page


def test_iso_8859_1_label_means_windows_1252() -> None:
    page = "<p>“Quoted” — 5 €</p>"
    assert decode_html(page.encode("cp1252"), "text/html; charset=ISO-8859-1") == page


def test_utf8_page_mislabelled_as_latin1_is_read_as_utf8() -> None:
    assert decode_html(FRENCH.encode("utf-8"), "text/html; charset=iso-8859-1") == FRENCH


def test_gb2312_label_decodes_as_gb18030() -> None:
    text = "中国经济增长超出预期，𠀀。"
    page = f'<html><head><meta charset="gb2312"></head><body><p>{text}</p></body></html>'
    assert decode_html(page.encode("gb18030")) == page


def test_meta_declaring_utf16_is_read_as_utf8() -> None:
    page = '<html><head><meta charset="utf-16"></head><body><p>Grüße</p></body></html>'
    assert decode_html(page.encode("utf-8")) == page


def test_unknown_label_and_binary_bytes_do_not_raise() -> None:
    assert "body" in decode_html(b"<body>\xff\xfe\x00\x81</body>", "text/html; charset=bogus")
    assert isinstance(decode_html(bytes(range(256)) * 10), str)
    assert decode_html(b"") == ""


def test_truncated_utf8_keeps_being_utf8() -> None:
    data = FRENCH.encode("utf-8")[:-1] + "é".encode()[:1]
    assert decode_html(data).startswith(FRENCH[:-1])
