"""``report.html``: the markdown report's content with its plots, in one self-contained file.

Each workload's figure is embedded as an SVG data URI in an ``<img>``: no script, no network,
and the figures' SVG ids cannot collide with each other or with the page.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from markupsafe import Markup

from djbench.analysis.core import Analysis
from djbench.outputs.report.markdown import template_environment
from djbench.outputs.report.plots import workload_svgs


def data_uri(svg: str) -> str:
    """An SVG document as a ``data:`` URI."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def render_html(analysis: Analysis, svgs: Mapping[str, str] | None = None) -> str:
    """``report.html`` text of one analysed results file: self-contained, no network.

    ``svgs`` (workload → figure as SVG text) saves drawing the figures again when the caller
    has them already.
    """
    svgs = workload_svgs(analysis) if svgs is None else svgs
    template = template_environment().get_template("report.html.j2")
    return template.render(
        analysis=analysis,
        results=analysis.results,
        s=analysis.scenario,
        # base64 holds only [A-Za-z0-9+/=]: nothing in it can close the attribute.
        figures={w: Markup(data_uri(svg)) for w, svg in svgs.items()},  # noqa: S704
    )
