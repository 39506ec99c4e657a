"""Progress while a run goes: a bar over all steps and one line per step.

On a terminal the bar is live. Without one (CI logs, a pipe, ``| tee``) there is no bar:
each event (a phase, a measured step) is one line, never wrapped at the console's width and
never split by a newline from an error message.

Labels, phases and step errors come from outside (variant names, exception messages, PromQL
selectors such as ``pod=~"x-[a-z0-9]+"``), so nothing here is read as rich markup: lines are
``rich.text.Text`` with our styles attached, and the bar shows its description as plain text.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from djbench.model.results import Step
from djbench.model.setup import LoadStep


def _one_line(text: str) -> str:
    """Text from outside on one line: newlines (a traceback, a server's stderr) become spaces."""
    return " ".join(text.split())


class RichProgress:
    """The runner's progress sink, drawn with rich (plain lines when not on a terminal)."""

    def __init__(self, console: Console, total_steps: int) -> None:
        self.console = console
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task("preparing", total=total_steps)

    def __enter__(self) -> RichProgress:
        if self.console.is_terminal:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.console.is_terminal:
            self._bar.stop()  # (rich's stop prints an empty line when there is no terminal)

    def phase(self, text: str) -> None:
        """Show a stage of the run."""
        self._bar.update(self._task, description=text)
        if not self.console.is_terminal:
            self._line(Text(f"… {_one_line(text)}", style="dim"))

    def _line(self, text: Text) -> None:
        # Without a terminal, wrapping at the console's width (80) would split one event
        # over several lines; on a terminal the live bar keeps to its width anyway.
        self.console.print(text, soft_wrap=not self.console.is_terminal)

    def step_started(self, run: str, workload: str, step: LoadStep) -> None:
        """Show the step being measured (``run``: the run's label)."""
        self._bar.update(self._task, description=f"{run} · {workload} · {step.model} {step.label}")

    def step_done(self, run: str, workload: str, step: Step) -> None:
        """Print one line with the step's headline numbers."""
        self._bar.advance(self._task)
        level = step.load_label
        if step.status != "ok":
            error = _one_line(step.error or "no error recorded")
            # Overload is a result (a step above one that was measured), not a failure.
            mark = ("saturated", "yellow") if step.status == "saturated" else ("failed", "red")
            self._line(Text.assemble("  ", mark, f" {run:<28} {workload:<9} {level:<10} {error}"))
            return
        errors = f"  {step.errors} errors" if step.errors else ""
        dropped = f"  {step.dropped} dropped" if step.dropped else ""
        self._line(
            Text.assemble(
                "  ",
                ("ok", "green"),
                f"     {run:<28} {workload:<9} {level:<10} "
                f"{step.rps:9.1f} req/s  p50 {step.latency_ms.p50:8.1f} ms  "
                f"p99 {step.latency_ms.p99:8.1f} ms  cpu {step.cpu_util:4.0%}",
                (errors, "yellow"),
                (dropped, "yellow"),
            )
        )

    def run_failed(self, run: str, workload: str, error: str) -> None:
        """Print one line: the run failed, and why (the summary groups these again)."""
        self._line(
            Text.assemble(
                "  ", ("run failed", "bold red"), f" {run} · {workload}: {_one_line(error)}"
            )
        )

    def skipped(self, count: int) -> None:
        """Count steps that will not run as done, so the bar stays truthful."""
        if count > 0:
            self._bar.advance(self._task, count)
