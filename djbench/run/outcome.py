"""How a finished run ends for the shell: one exit status per outcome, so a CI job can tell a
clean run from a partial one, a voided one and one that measured nothing (README: Commands)."""

from __future__ import annotations

from dataclasses import dataclass

from djbench.model.results import Results

EXIT_OK = 0
"""Every run measured what it set out to."""
EXIT_ERROR = 1
"""Nothing ran: bad input or a missing piece, said in one ``ERROR:`` line."""
EXIT_RUNS_FAILED = 3
"""Some runs failed (verification, a server's start, their steps); the others measured."""
EXIT_VOID = 4
"""An infrastructure fault (Postgres, the stub API, a latency proxy gone) stopped the run and
voided the verdicts."""
EXIT_NOTHING_MEASURED = 5
"""Not one run of any workload measured a step: there is no result at all."""
EXIT_INTERRUPTED = 130
"""Ctrl-C or SIGTERM: what was measured is kept."""


@dataclass(frozen=True)
class Outcome:
    """A finished run's exit status and the line that says why."""

    status: int
    message: str


def outcome(results: Results) -> Outcome:
    """The exit status of a finished run: nothing measured, then a fault, then failed runs."""
    runs = results.runs
    failed = sum(1 for r in runs if r.status == "failed")
    if not any(step.measured for r in runs for step in r.steps):
        cause = results.faults[0].message if results.faults else "their causes above"
        return Outcome(
            EXIT_NOTHING_MEASURED,
            f"nothing was measured: {failed} of {len(runs)} runs failed ({cause})",
        )
    if results.faults:
        return Outcome(EXIT_VOID, f"no verdict: {results.faults[0].message}")
    if failed:
        return Outcome(
            EXIT_RUNS_FAILED,
            f"{failed} of {len(runs)} runs failed (their causes above); the others measured",
        )
    return Outcome(EXIT_OK, "")
