"""AskCall's HTTP surfaces, in the inbound layer above the services: one module per surface (`slack_events`,
`webhooks`, `call_page`, `health`, `metrics`), request bodies in `body`. bot.app routes them.

This module: the call page's static HTML + JS + CSS (no build step, no CDN, no third-party script), and
what serving it needs. AskCall serves it (bot/web/call_page.py); the browser tests in tests/calls drive it
through AskCall itself.
Invariant: the files run under :data:`CALL_PAGE_CSP` (no inline script or style, every request to the page's own
origin), and every word the page shows comes from the catalogue's ``callpage.*`` entries (:func:`page_strings`,
sent to the page as JSON) or from its server's JSON, never from the files themselves.
"""

from __future__ import annotations

from importlib.resources import files

from bot.i18n import DEFAULT_LANGUAGE, normalize_language
from bot.i18n.catalog import CATALOG

__all__ = ["CALL_PAGE_CSP", "CALL_PAGE_FILES", "CALL_PAGE_HEADERS", "asset", "favicon", "page_strings"]

CALL_PAGE_FILES = {"call.html": "text/html", "call.js": "text/javascript", "call.css": "text/css"}
STRINGS_PREFIX = "callpage."
CALL_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "media-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CALL_PAGE_HEADERS = {
    "Content-Security-Policy": CALL_PAGE_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def asset(name: str) -> bytes:
    """The bytes of one of :data:`CALL_PAGE_FILES`."""
    if name not in CALL_PAGE_FILES:
        raise KeyError(name)
    return files(__name__).joinpath(name).read_bytes()


def favicon() -> bytes:
    """AskCall's icon, `/favicon.ico` (32×32, a PNG in an ICO): what a browser shows on the page's tab."""
    return files(__name__).joinpath("favicon.ico").read_bytes()


def page_strings(lang: str | None) -> dict[str, str]:
    """The page's texts in ``lang`` (pt-BR or en), keyed without the ``callpage.`` prefix; ``{name}`` left as is."""
    language = normalize_language(lang)
    return {
        key.removeprefix(STRINGS_PREFIX): entry.get(language) or entry[DEFAULT_LANGUAGE]
        for key, entry in CATALOG.items()
        if key.startswith(STRINGS_PREFIX)
    }
