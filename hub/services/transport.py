"""How the caller's context travels over HTTP: one rule for every client (the web pages, the CLI
through a running server, any API client) and the server.

Each `X-JustLink-*` context header carries its value as **percent-encoded UTF-8** (RFC 3986: what
`encodeURIComponent` in a browser and `urllib.parse.quote(value, safe="")` in Python produce), so a
case number as agencies write it — `（2025）城关调字第2号` — fits in a header, which HTTP keeps to
ISO-8859-1. The server decodes every such header the same way. Plain ASCII (`mediator`) is its own
encoding. A header holding raw non-ASCII bytes, or percent-escapes that are not UTF-8, decodes to a
value with lone surrogates, which the access gate refuses with 400 (consent/access/caller_values.py)
and audits by length and keyed hash only.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

# caller field -> header
CONTEXT_HEADERS = {"role": "X-JustLink-Role", "purpose": "X-JustLink-Purpose", "case_id": "X-JustLink-Case",
                   "break_glass_reason": "X-JustLink-Break-Glass"}


def encode_value(value: str) -> str:
    """A context value as its header text (bytes the shell could not decode are sent as they came)."""
    return quote(value.encode("utf-8", "surrogateescape"), safe="")


def decode_value(header: str) -> str:
    """A context header's value. The server hands headers over as ISO-8859-1 text; a byte outside
    printable ASCII means the client did not percent-encode, and stays undecodable (a surrogate)."""
    raw = header.encode("latin-1", "surrogateescape").strip()
    if any(b < 0x20 or b > 0x7E for b in raw):
        return raw.decode("ascii", "surrogateescape")
    return unquote_to_bytes(raw).decode("utf-8", "surrogateescape").strip()
