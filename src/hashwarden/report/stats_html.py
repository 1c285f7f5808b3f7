"""Render a stats.json (grading/stats.py) as one self-contained HTML page with charts, for analysts.

Built as the case report is (report/html.py), for the same reasons: one file, no assets, no network, no imagery
of any kind; a Content-Security-Policy with ``default-src 'none'`` and the hash of the page's one style block; every
value through the report's escaping. The charts are pygal's SVG, drawn here and put inline, cleaned of what the
policy would block or what could reach out: its script (pygal adds one even without its tooltips' JS), its
comments (they carry its project's URLs), its tooltip overlay (styled by a `style` attribute), the SVG namespace
(HTML gives inline SVG its namespace) and its `<style>`, which joins the page's style block so that one hash
covers it. The page has no script at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import pygal
from pygal.style import Style

# The case report's hashing and escaping, and the characters it shows as U+XXXX: one of each.
from hashwarden.report.page import PAGE_HEAD, csp, fill_page, text as _text, visible as _visible

__all__ = ["chart_svg", "render_stats_html", "shares_svg", "stats_body"]

_SVG_NS = "{http://www.w3.org/2000/svg}"
_CHART_STYLE = Style(background="white", plot_background="white", font_family="system-ui, sans-serif",
                     colors=("#2451c9", "#b3261e", "#1d6b2a", "#8a5a00", "#5c1870", "#444b53", "#0f7c8c"))
# The breakdowns drawn, in order: (key in `by`, title).
_CHARTS = (("age_group", "By age group (groups may overlap)"), ("category", "By category"),
           ("age_band", "By age band"), ("sex", "By sex"),
           ("self_generated", "Self-generated"), ("capture_device", "By capture device"),
           ("redistributed", "Redistributed"), ("month", "By month (of the grade)"), ("agency", "By agency"),
           ("series", "By series"))
_MAX_BARS = 30  # a breakdown with more values (series, months) shows its largest; the table lists them all


def chart_svg(chart_id: str, title: str, counts: Mapping[str, Mapping[str, Any]], by_count: bool = False
              ) -> tuple[str, str]:
    """A horizontal bar chart of `counts` (value -> {"count", "percent"}, in their order, or largest first when
    `by_count`) as inline SVG markup without style or script, and its CSS (scoped by `chart_id`) for the page's
    style block."""
    shown = list(counts.items())
    if by_count or len(shown) > _MAX_BARS:
        shown = sorted(shown, key=lambda kv: -kv[1]["count"])[:_MAX_BARS]
    largest = max((value["count"] for _, value in shown), default=0)
    ticks = {"y_labels": list(range(largest + 1))} if largest < 10 else {}  # counts: no 0.5 of a media
    chart = _chart(pygal.HorizontalBar, chart_id, 80 + 26 * len(shown), show_legend=False, **ticks)
    chart.x_labels = [_visible(name) for name, _ in shown][::-1]  # pygal draws the first value at the bottom
    chart.add("media", [{"value": value["count"], "formatter": lambda n, p=value["percent"]: f"{n} ({p} %)"}
                        for _, value in shown][::-1])
    return _clean(chart, title)


def shares_svg(chart_id: str, title: str, groups: Mapping[str, Mapping[str, Any]], name: str) -> tuple[str, str]:
    """A stacked bar per age group of the shares of `name`'s values (category ...) within it, as `chart_svg`."""
    values = list(dict.fromkeys(value for breakdown in groups.values() for value in breakdown[name]))
    chart = _chart(pygal.HorizontalStackedBar, chart_id, 110 + 34 * len(groups), show_legend=True,
                   legend_at_bottom=True, legend_at_bottom_columns=min(len(values), 6) or 1)
    chart.x_labels = [_visible(f"{group} ({breakdown['total']})") for group, breakdown in groups.items()][::-1]
    for value in values:
        chart.add(_visible(value), [{"value": breakdown[name][value]["percent"], "formatter": lambda p: f"{p} %"}
                          if value in breakdown[name] else None for breakdown in groups.values()][::-1])
    return _clean(chart, title)


def _chart(kind: Any, chart_id: str, height: int, **options: Any) -> Any:
    chart = kind(js=[], disable_xml_declaration=True, style=_CHART_STYLE, width=640, height=height,
                 print_values=True, print_zeroes=False, truncate_label=40, **options)
    chart.uuid = chart_id  # a stable id: the same stats give the same page
    return chart


def _clean(chart: Any, title: str) -> tuple[str, str]:
    """The chart's SVG without script, comments, tooltip overlay, `style` attributes or namespace, and its CSS."""
    root = ET.fromstring(chart.render(is_unicode=True))  # the parser drops comments
    css = []
    for parent in list(root.iter()):
        for child in list(parent):
            tag = child.tag.removeprefix(_SVG_NS)
            if tag in ("script", "title") or "tooltip-overlay" in child.get("class", ""):
                parent.remove(child)
            elif tag == "style":
                css.append(child.text or "")
                parent.remove(child)
    for element in root.iter():
        element.tag = element.tag.removeprefix(_SVG_NS)
        element.attrib.pop("style", None)
    root.set("role", "img")
    root.set("aria-label", title)
    return ET.tostring(root, encoding="unicode", short_empty_elements=True), "\n".join(css)


def render_stats_html(stats: Mapping[str, Any]) -> str:
    """The statistics page as one ASCII string: what was counted, then per breakdown a chart and its table, then
    each age group's breakdowns."""
    body, css = stats_body(stats)
    style = _BASE_CSS + css
    values = {"CSP": csp(style), "CSS": style, "BODY": body, "SCHEME": _text(stats["scheme"]),
              "TOTAL": str(stats["total"])}
    values["TITLE"] = f"hashwarden statistics: {values['SCHEME']}"
    return fill_page(_PAGE, values)


def stats_body(stats: Mapping[str, Any]) -> tuple[str, str]:
    """The statistics as HTML (the table of what was counted, then the sections of charts and tables) and the CSS
    its charts and tables need: the body of stats.html and of the service's statistics page (service/web/)."""
    sections, css = [], [_STATS_CSS]
    groups = stats.get("by_age_group") or {}
    if groups:
        for name, title in (("category", "Category within each age group (%)"),
                            ("capture_device", "Capture device within each age group (%)")):
            svg, chart_css = shares_svg(f"stats-groups-{name}", title, groups, name)
            css.append(chart_css)
            sections.append(f'<section id="groups-{name}"><h2>{_text(title)}</h2><div class="chart">{svg}</div>'
                            "</section>")
    for n, (key, title) in enumerate(_CHARTS):
        counts = stats["by"].get(key) or {}
        if not counts:
            continue
        svg, chart_css = chart_svg(f"stats-{n}", title, counts, by_count=key in ("agency", "series"))
        css.append(chart_css)
        sections.append(f'<section id="by-{key}"><h2>{_text(title)}</h2><div class="pair"><div class="chart">'
                        f'{svg}</div>{_table(key, counts)}</div></section>')
    for group, breakdown in groups.items():
        tables = "".join(f"<div><h3>{_text(name)}</h3>{_table(name, counts)}</div>"
                         for name, counts in breakdown.items() if name != "total")
        sections.append(f'<section class="group"><h2>Ages {_text(group)}: {breakdown["total"]} media</h2>'
                        f'<div class="tables">{tables}</div></section>')
    body = f'<table id="query"><tbody>{_query(stats)}</tbody></table>\n' + "\n".join(sections)
    return body, "\n".join(css)


def _table(name: str, counts: Mapping[str, Mapping[str, Any]]) -> str:
    rows = "".join(f'<tr><td>{_text(value)}</td><td class="num">{c["count"]}</td><td class="num">{c["percent"]}'
                   "</td></tr>" for value, c in counts.items())
    return (f'<table class="counts"><thead><tr><th>{_text(name)}</th><th>Media</th><th>%</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _query(stats: Mapping[str, Any]) -> str:
    shown = [("scheme", stats["scheme"]), ("consensus rule", stats["rule"]), ("states", ", ".join(stats["statuses"])),
             ("since (grade time)", stats.get("since")), ("until", stats.get("until")), ("set", stats.get("set")),
             ("case", stats.get("case")),
             ("age groups", "; ".join(f'{g["name"]} = {" ".join(g["bands"])}' for g in stats.get("age_groups", [])))]
    return "".join(f"<tr><th>{_text(label)}</th><td>{_text(value)}</td></tr>" for label, value in shown if value)


_BASE_CSS = """
:root { color-scheme: light; --line: #d0d4da; --muted: #5f6670; --bg-alt: #f5f6f8; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 1.5em 2em; color: #16191d; }
h1 { font-size: 1.4em; margin: .8em 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
h3 { font-size: 1em; margin: .8em 0 .3em; }
.muted { color: var(--muted); }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
section { margin-bottom: 1.5em; }"""
# What the charts and count tables need, on any page that shows them.
_STATS_CSS = """
.chart { width: 640px; max-width: 100%; }
.chart svg { width: 100%; height: auto; display: block; }
.pair { display: flex; flex-wrap: wrap; gap: 1em 2em; align-items: flex-start; }
.tables { display: flex; flex-wrap: wrap; gap: 1em 2em; }
"""

_PAGE = PAGE_HEAD + """<body>
<header>
<h1>Graded media: @@TOTAL@@</h1>
<div class="muted">Counts of reconciled grades (votes recorded as data). Hashes and judgements only: this page never contains imagery.</div>
</header>
@@BODY@@
</body>
</html>
"""
