"""The results so far, rewritten to ``results.json`` after every change: a crash or Ctrl-C
loses nothing measured."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from djbench.model.results import Environment, Fault, Results, Run
from djbench.model.results_file import write_results


def now_iso() -> str:
    """The current time in ISO 8601 with the UTC offset."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ResultsWriter:
    """Holds the results so far and rewrites ``results.json`` after every change."""

    def __init__(
        self,
        out_dir: Path,
        results: Results,
        environment: Callable[[], Environment] | None = None,
    ) -> None:
        self.out_dir = out_dir
        self.results = results
        self._runs: list[Run] = list(results.runs)
        # Asked again at every write: a backend learns some facts only once steps ran (the
        # k6 version its pods report, whether the server's container has a CPU quota).
        self._environment = environment

    def put(self, index: int | None, run: Run) -> int:
        """Add (index None) or replace one run, then write; returns the run's index."""
        if index is None:
            self._runs.append(run)
            index = len(self._runs) - 1
        else:
            self._runs[index] = run
        self._flush()
        return index

    @property
    def runs(self) -> list[Run]:
        """The runs recorded so far."""
        return list(self._runs)

    def fault(self, fault: Fault) -> None:
        """Record an infrastructure fault, then write."""
        self.results = self.results.model_copy(update={"faults": [*self.results.faults, fault]})
        self._flush()

    def finish(self) -> Results:
        """Stamp the end time and write the final file."""
        self.results = self.results.model_copy(update={"finished_at": now_iso()})
        self._flush()
        return self.results

    def _flush(self) -> None:
        update: dict[str, object] = {"runs": list(self._runs)}
        if self._environment is not None:
            update["environment"] = self._environment()
        self.results = self.results.model_copy(update=update)
        write_results(self.results, self.out_dir)
