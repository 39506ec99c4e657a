"""How numbers and text read in every renderer (markdown, HTML, terminal): one format each."""

from __future__ import annotations

from djbench.model.scenario import Slo

DASH = "—"


# Characters that would turn text from the results file into Markdown or HTML structure.
_MD_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "_": "\\_",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "<": "&lt;",
        ">": "&gt;",
        "&": "&amp;",
        "\n": " ",
        "\r": " ",
    }
)


def fmt_num(value: float | None, digits: int = 1) -> str:
    """A number with thousands separators, or a dash when there is none."""
    return DASH if value is None else f"{value:,.{digits}f}"


def fmt_pct(value: float | None, digits: int = 0) -> str:
    """A fraction as a percentage (``0.97`` → ``97%``)."""
    return DASH if value is None else f"{value:.{digits}%}"


def fmt_ratio(value: float | None) -> str:
    """A winner/runner-up ratio (``1.42x``)."""
    return DASH if value is None else f"{value:.2f}x"


def slo_text(slo: Slo) -> str:
    """The SLO in words."""
    return f"p99 ≤ {fmt_num(slo.p99_ms, 0)} ms, errors ≤ {fmt_pct(slo.max_error_rate, 1)}"


def fmt_plain(value: object) -> str:
    """Any metadata value in one line: mappings as ``key value``, sequences comma-separated."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt_plain(v) for v in value)
    return str(value)


def md_escape(value: object) -> str:
    """Text safe inside a Markdown table cell or paragraph; ``None`` becomes a dash."""
    return DASH if value is None else str(value).translate(_MD_ESCAPES)
