"""Stored and configured strings on a page that renders Markdown: shown as they are, never as
markup, and without credentials.

Vehicle ids, file names, profile names and error messages come from the database, the
environment or drivers. Streamlit renders alert, caption and Markdown bodies as GitHub-flavoured
Markdown with its own extensions (`:red[…]`, `:material/…:`, `$…$` as LaTeX), so a stored
`[a](http://evil)` would become a link. Wherever such a string must sit inside Markdown it goes
through `plain`; elsewhere the page uses st.text, st.code or dataframe cells, which are plain.
"""

from __future__ import annotations

import re

from evpm.settings import redact_url

# CommonMark lets a backslash escape any ASCII punctuation; escaping all of it also defuses
# GFM autolinks ("http\://"), Streamlit's directives (":red[", ":smile:") and "$" maths.
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# Line breaks and other control characters would start new blocks (headings, lists, code).
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def plain(text: object) -> str:
    """`text` as Markdown that renders exactly as the text (credentials in URLs masked)."""
    return _PUNCTUATION.sub(r"\\\1", _CONTROL.sub(" ", redact_url(str(text))))


def message(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line without credentials (plain text, not yet escaped)."""
    lines = str(exc).strip().splitlines()
    text = redact_url(f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"
