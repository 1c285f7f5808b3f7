"""What every self-contained HTML page hashwarden writes shares: the head with its Content-Security-Policy, text made
safe to show, and the one-pass filling of a page template.

The case report (report/html.py) and the statistics page (report/stats_html.py) are opened by examiners from case
folders, offline, and show text that came from evidence or from other people (file names, EXIF fields, agencies'
names): both must carry the same policy (nothing loaded from anywhere, only the page's own hashed style and script)
and show hostile text as what it is. Kept here, with no imports of the report's other parts, so that a page module
pulls in nothing it does not need (the statistics page is built without the scan's lead code).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

# Characters shown as U+XXXX markers instead of themselves: controls, format and bidi characters, surrogates and
# every space but the plain one (a name of spaces or with a right-to-left override must not pass for another).
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})

# The head of every page: `@@CSP@@` (see `csp`), `@@TITLE@@` (already HTML), `@@CSS@@` (the one style block).
PAGE_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="@@CSP@@">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@@TITLE@@</title>
<style>@@CSS@@</style>
</head>
"""


def csp(style: str, script: str | None = None, form_action: str = "'none'") -> str:
    """The page's policy: nothing from anywhere (no images, media, fonts, connections, forms), only `style` and,
    when given, `script`, allowed by their hashes; forms only to `form_action` (the service's pages: `'self'`)."""
    scripts = csp_hash(script) if script is not None else "'none'"
    return (f"default-src 'none'; script-src {scripts}; style-src {csp_hash(style)}; img-src 'none'; "
            f"media-src 'none'; font-src 'none'; connect-src 'none'; form-action {form_action}; base-uri 'none'")


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def text(value: Any) -> str:
    """HTML for a piece of text: escaped, `/` as a character reference, invisible characters as U+XXXX markers."""
    out: list[str] = []
    for ch in "" if value is None else str(value):
        if ch != " " and unicodedata.category(ch) in INVISIBLE_CATEGORIES:
            out.append(f'<span class="cc">U+{ord(ch):04X}</span>')
        elif ch == "/":
            out.append("&#47;")
        else:
            out.append(html.escape(ch))
    return "".join(out)


def visible(label: str) -> str:
    """`label` as plain text (not HTML: a chart's own escaping follows) with invisible characters as U+XXXX."""
    return "".join(f"U+{ord(ch):04X}" if ch != " " and unicodedata.category(ch) in INVISIBLE_CATEGORIES else ch
                   for ch in label)


def fill_page(template: str, values: Mapping[str, str]) -> str:
    """`template` with each `@@NAME@@` replaced by `values[NAME]`, in one pass (a value that happens to contain
    "@@NAME@@" is never substituted again), as one ASCII string (non-ASCII as character references: the page
    reads the same whatever encoding it is written or served in)."""
    page = re.sub(r"@@([A-Z_]+)@@", lambda m: values[m.group(1)], template)
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")
