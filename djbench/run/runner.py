"""Runs a plan on a backend: verify, measure step by step, write results after every step."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Generic, Literal, Protocol

from djbench.backends.base import Backend, ServerT
from djbench.backends.steps import NO_SUCCESS, failed_step
from djbench.measure.environment import version_of
from djbench.model.errors import DjbenchError
from djbench.model.names import run_label
from djbench.model.results import (
    ClientInfo,
    Environment,
    Fault,
    PathCheck,
    Results,
    Run,
    Step,
    write_results,
)
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from djbench.plan.judge import leaders, searched_capacity, slo_load, slo_misses, summarize_run
from djbench.plan.measurement import (
    CAPPED_START,
    CONFIRM_START,
    SEARCH_HEADROOM,
    Plan,
    next_search_rate,
)

INCOMPLETE = "incomplete: the run was interrupted before this point"
SETTLE_S = 5.0
"""How long a server may take to become idle again before the next step gets a fresh one."""


class Progress(Protocol):
    """Where the runner reports what it is doing (a rich display, or nothing)."""

    def phase(self, text: str) -> None:
        """A stage of the whole run (starting Postgres, starting a variant...)."""

    def step_started(self, run: str, workload: str, step: LoadStep) -> None:
        """A step is about to run (``run``: the run's label, variant and client)."""

    def step_done(self, run: str, workload: str, step: Step) -> None:
        """A step finished (or failed)."""

    def skipped(self, count: int) -> None:
        """Steps that will not run (their run failed earlier)."""

    def run_failed(self, run: str, workload: str, error: str) -> None:
        """A run ended failed (verification, its server's start, its steps, a fault): said
        as it happens, with its cause."""


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


def client_info(setup: Setup, scenario: Scenario, workload: str) -> ClientInfo | None:
    """The upstream client of a run, for workloads that call the stub API."""
    if not scenario.kind(workload).touches_upstream:
        return None
    return ClientInfo(
        name=setup.client,
        version=version_of(setup.client),  # each client is the distribution of its name
        max_connections=scenario.upstream_pool_size,
    )


@dataclass(frozen=True)
class Task:
    """One run to make: a setup on a workload in a round, with fixed steps or the ladder."""

    setup: Setup
    workload: str
    round: int = 0
    steps: tuple[LoadStep, ...] | None = None
    """None: the closed ladder, then the open steps it implies (the survey)."""
    known: tuple[Step, ...] = ()
    """Steps measured before (the survey's, for a confirmation): they size this run's steps."""
    purpose: Literal["survey", "search", "confirm"] = "survey"
    search_start: float | None = None
    """For a search (round 0's, or a confirmation round's shorter one): its first rate."""

    @property
    def searching(self) -> bool:
        """Whether each step's rate follows from the last (a capacity search)."""
        return self.search_start is not None

    def planned(self, plan: Plan) -> int:
        """Its steps, for progress."""
        if self.searching:
            return self.search_limit(plan)
        return plan.steps_per_run if self.steps is None else len(self.steps)

    def search_limit(self, plan: Plan) -> int:
        """Steps a search may take: round 0's ``search_steps``, a confirmation's fewer."""
        s = plan.scenario
        return s.confirm_steps if self.purpose == "confirm" else s.search_steps


class InfrastructureFault(Exception):
    """Postgres or the stub API is gone: nothing measured from here on would count."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


def _run_record(
    task: Task,
    plan: Plan,
    steps: list[Step],
    error: str | None,
    paths: Sequence[PathCheck] = (),
    restarts: Sequence[str] = (),
    load_average: tuple[float, float, float] | None = None,
) -> Run:
    variant = task.setup.variant
    return Run(
        variant=variant.name,
        server=variant.server,
        interface=variant.interface,
        views=variant.views,
        workload=task.workload,
        crossed=variant.crossed,
        client=client_info(task.setup, plan.scenario, task.workload),
        slots=variant.slots(plan.scenario.threads),
        status="failed" if error else "ok",
        error=error,
        round=task.round,
        purpose=task.purpose,
        distance=task.setup.distance,
        paths=list(paths),
        steps=with_saturation(steps),
        restarts=list(restarts),
        load_average=load_average,
    )


def with_saturation(steps: Sequence[Step]) -> list[Step]:
    """The steps with overload called a result: a step that got not one successful response
    above a measured step of the same load model is ``saturated``, not failed (every request
    past the timeout is what that load gets from this server). One whose server ran Postgres
    out of connections stays failed, that named as its cause: the server's setup, not the
    load, broke it."""

    def level(step: Step) -> float:
        return float((step.concurrency if step.model == "closed" else step.rate) or 0)

    measured = [s for s in steps if s.measured]
    return [
        step.model_copy(update={"status": "saturated"})
        if step.status == "failed"
        and step.error == NO_SUCCESS
        and any(m.model == step.model and level(m) < level(step) for m in measured)
        else step
        for step in steps
    ]


def execute(
    plan: Plan,
    backend: Backend[ServerT],
    out_dir: Path,
    environment: Callable[[], Environment],
    progress: Progress,
) -> Results:
    """Run the whole plan. Returns the results; ``results.json`` is current at every point.

    The survey measures every setup on every workload, setups in a shuffled order; each
    further round (``repeats``) re-measures each workload's leaders at their capacity step, in
    a new shuffled order, each setup on a freshly started server. A failing variant or step is
    recorded and the run goes on; an infrastructure fault is recorded and stops the run. A run
    in progress is stored as incomplete before each step, so KeyboardInterrupt (which
    propagates) loses nothing.
    """
    progress.phase(
        ("building and preparing the project" if plan.project.build else "preparing the project")
        if plan.project
        else "preparing Postgres (seeded) and the stub API"
    )
    with backend.infrastructure():
        writer = ResultsWriter(
            out_dir,
            Results(
                backend=backend.name,
                started_at=now_iso(),
                environment=environment(),
                scenario=plan.scenario.resolved(),
                project=plan.project,
            ),
            environment,
        )
        try:
            for setup in plan.order(plan.setups, 0):
                tasks = [Task(setup, w) for w in plan.workloads_for(setup)]
                _run_setup(plan, backend, tasks, writer, progress)
            _after_survey(plan, backend, writer, progress)
        except InfrastructureFault as exc:
            writer.fault(exc.fault)
            progress.phase(f"stopped: {exc.fault.message}")
        return writer.finish()


def _after_survey(
    plan: Plan, backend: Backend[ServerT], writer: ResultsWriter, progress: Progress
) -> None:
    """Each case's leaders (a workload at one distance): their capacity searched (when the
    scenario asks), then measured again in the confirmation rounds, each round in a new order
    on fresh servers."""
    scenario = plan.scenario
    rounds = scenario.repeats - 1
    k = scenario.leaders
    top = max(scenario.closed.concurrency)
    chosen: dict[Setup, list[tuple[str, Run, LoadStep]]] = {}
    leading = extra = 0
    for workload, distance in plan.cases:
        survey = [
            summarize_run(r, scenario.slo_for(workload))
            for r in writer.runs
            if (r.workload, r.distance, r.purpose) == (workload, distance, "survey")
        ]
        found = leaders(survey, k, top if scenario.search_steps else None)
        leading, extra = leading + min(len(found), k), extra + max(0, len(found) - k)
        for summary, step in found:
            capacity = LoadStep(step.model, float(step.concurrency or step.rate or 0))
            chosen.setdefault(_setup_of(summary.run, plan), []).append(
                (workload, summary.run, capacity)
            )
    progress.skipped((plan.leader_slots - leading) * plan.steps_per_leader)
    progress.skipped((plan.contender_slots - extra) * scenario.search_steps)
    if not scenario.search_steps:
        return
    # Round 0: each leader's open-model capacity at SLO, searched from its survey capacity.
    progress.phase("searching the leaders' capacity at SLO (open model)")
    first = len(writer.runs)
    for setup in plan.order(list(chosen), 0):
        tasks = [
            Task(setup, w, 0, None, tuple(run.steps), "search", _search_start(run, step, top))
            for w, run, step in chosen[setup]
        ]
        _run_setup(plan, backend, tasks, writer, progress)
    # Each confirmation round searches again, in fewer steps, from just below what round 0
    # found: the same start every round, so the rounds are repeats of one measurement. Where
    # more than the leaders were searched (tied in the survey), round 0 ranks them.
    planned: dict[Setup, list[Task]] = {}
    for workload, distance in plan.cases:
        searched = [
            (run, searched_capacity(summarize_run(run, scenario.slo_for(workload))))
            for run in writer.runs[first:]
            if (run.workload, run.distance) == (workload, distance)
        ]
        searched.sort(key=lambda t: -(t[1].rate if t[1] else -1.0))  # stable: survey order
        for run, best in searched[:k]:
            if best is None:
                progress.skipped(rounds * scenario.confirm_steps)
                continue
            start = best.rate * CONFIRM_START
            setup = _setup_of(run, plan)
            known = [s for r in writer.runs if _same_case(r, run) for s in r.steps]
            planned.setdefault(setup, []).append(
                Task(setup, workload, 0, None, tuple(known), "confirm", round(start, 2))
            )
    for round_ in range(1, rounds + 1):
        progress.phase(f"confirmation round {round_} of {rounds}")
        for setup in plan.order(list(planned), round_):
            tasks = [replace(t, round=round_) for t in planned[setup]]
            _run_setup(plan, backend, tasks, writer, progress)


def _search_start(run: Run, step: LoadStep, top: float) -> float:
    """Where a search from a survey step starts: its measured throughput as an arrival rate;
    from the ladder's top (which may have capped it), at least ``CAPPED_START`` of the rate
    at which the server's CPU would run out."""
    if step.model == "open":
        return step.level
    measured = [s for s in run.steps if s.load_label == step.label and s.status == "ok"]
    if not measured:
        return 0.0
    last = measured[-1]
    if step.level == top and last.cpu_util > 0:
        return max(last.rps, CAPPED_START * last.rps / last.cpu_util)
    return last.rps


def _same_case(a: Run, b: Run) -> bool:
    """Whether two runs measured one candidate on one workload at one distance."""
    return (a.key, a.workload, a.distance) == (b.key, b.workload, b.distance)


def _setup_of(run: Run, plan: Plan) -> Setup:
    """The setup a run was made with (a workload without upstream calls records no client:
    the variant's first setup served it)."""
    mine = [s for s in plan.setups if (s.variant.name, s.distance) == (run.variant, run.distance)]
    wanted = run.client.name if run.client is not None else mine[0].client
    return next(s for s in mine if s.client == wanted)


class ServerSlot(Generic[ServerT]):
    """The running server of one setup: started on demand, reused while it is healthy.

    A server still busy with the previous step's abandoned requests (a sync worker with a
    queue of timed-out connections), or one that no longer answers its health path below
    500 (its database connections gone, a worker broken), would pollute or fail the next
    step, so it is restarted fresh; ``restarts`` says why each time.
    """

    def __init__(self, backend: Backend[ServerT], setup: Setup, progress: Progress) -> None:
        self.backend = backend
        self.setup = setup
        self.progress = progress
        self._stack: contextlib.ExitStack | None = None
        self._server: ServerT | None = None
        self.restarts: list[str] = []
        """Why the server was restarted, in order."""
        self.served = False
        """Whether the running server has measured a step since it started."""

    def ready(self) -> ServerT:
        """An idle, healthy running server: the current one if it settles, else a fresh one."""
        server = self._server
        if server is None:
            return self._start(f"starting {self.setup.label}")
        why = (
            self.backend.settle(server, SETTLE_S)
            if server.alive()
            else f"it exited: {' '.join(server.describe_exit().split())}"
        )
        return server if why is None else self.restart(why)

    def restart(self, why: str) -> ServerT:
        """A fresh server in place of the running one, ``why`` recorded."""
        self.restarts.append(why)
        return self._start(f"restarting {self.setup.label}: {why}")

    def _start(self, phase: str) -> ServerT:
        self.close()
        self.progress.phase(phase)
        # Held before entering, so a Ctrl-C inside the start still stops what it started.
        self._stack = contextlib.ExitStack()
        self._server = self._stack.enter_context(self.backend.server(self.setup))
        self.served = False
        return self._server

    def close(self) -> None:
        """Stop the server, if one runs."""
        stack, self._stack, self._server = self._stack, None, None
        if stack is not None:
            stack.close()


def _run_setup(
    plan: Plan,
    backend: Backend[ServerT],
    tasks: list[Task],
    writer: ResultsWriter,
    progress: Progress,
) -> None:
    """The tasks of one setup on one freshly started server."""
    if not tasks:
        return
    slot = ServerSlot(backend, tasks[0].setup, progress)
    try:
        for number, task in enumerate(tasks):
            try:
                _run_workload(plan, backend, slot, task, writer, progress)
            except ServerStartError as exc:
                error = f"server did not start: {exc}"
                for rest in tasks[number + 1 :]:
                    run = _run_record(rest, plan, [], error)
                    writer.put(None, run)
                    progress.run_failed(run_label(run), rest.workload, error)
                progress.skipped(sum(t.planned(plan) for t in tasks[number + 1 :]))
                return
    finally:
        slot.close()


class ServerStartError(Exception):
    """The variant's server could not be started (the cause is chained)."""


def _ready(slot: ServerSlot[ServerT], restart: str | None = None) -> ServerT:
    """The slot's server (a fresh one, ``restart`` recorded as why, when given)."""
    try:
        return slot.ready() if restart is None else slot.restart(restart)
    except DjbenchError as exc:
        raise ServerStartError(str(exc)) from exc


def _fault(message: str, task: Task, load: str | None) -> Fault:
    """A fault noticed while ``task`` ran, naming its run by data."""
    setup = task.setup
    return Fault(
        message=message,
        workload=task.workload,
        variant=setup.variant.name,
        client=setup.client if setup.calls_upstream else None,
        distance=setup.distance,
        load=load,
    )


def _check_infrastructure(
    backend: Backend[ServerT], task: Task, record: Run, load: str | None
) -> None:
    fault = backend.infrastructure_fault()
    if fault is not None:
        raise InfrastructureFault(_fault(fault, task, load))


def _run_workload(
    plan: Plan,
    backend: Backend[ServerT],
    slot: ServerSlot[ServerT],
    task: Task,
    writer: ResultsWriter,
    progress: Progress,
) -> None:
    """One run of a task, step by step (a search chooses each next rate from the last)."""
    workload = task.workload
    slo = plan.scenario.slo_for(workload)
    steps: list[Step] = []
    paths: list[PathCheck] = []
    restarted = len(slot.restarts)
    load_average = backend.load_average()

    def put(error: str | None) -> None:
        run = _run_record(task, plan, steps, error, paths, slot.restarts[restarted:], load_average)
        writer.put(index, run)
        if error is not None and error != INCOMPLETE:
            progress.run_failed(run_label(run), workload, error)

    record = _run_record(task, plan, steps, INCOMPLETE, load_average=load_average)
    index = writer.put(None, record)
    planned = task.planned(plan)
    _check_infrastructure(backend, task, record, None)
    try:
        server = _ready(slot)
        paths = list(server.paths)
        problem = backend.verify(server, workload)
        if problem and slot.served:
            # A server that served steps before may be what is broken, not the request: a
            # fresh one (the project's database as prepared) answers for the request.
            server = _ready(slot, f"before {workload}: {problem}")
            paths = list(server.paths)
            problem = backend.verify(server, workload)
    except ServerStartError as exc:
        put(f"server did not start: {exc}")
        progress.skipped(planned)
        raise
    if problem:
        _check_infrastructure(backend, task, record, None)
        put(problem)
        progress.skipped(planned)
        return
    probes: list[tuple[float, bool]] = []
    todo = _first_steps(plan, task)
    open_added = task.steps is not None or task.searching
    done = 0
    last: ServerT | None = None
    while todo:
        step = todo.pop(0)
        try:
            server = _ready(slot)
            paths = list(server.paths)
        except ServerStartError as exc:
            put(f"server did not start: {exc}")
            progress.skipped(planned - done)
            raise
        # Warm: the same server just served this workload without failing.
        warm = server is last and steps[-1].status == "ok"
        last = server
        step = plan.timed(
            step,
            [*task.known, *steps],
            workload,
            survey=task.purpose == "survey",
            warm=warm,
            distance=task.setup.distance,
            slots=task.setup.variant.slots(plan.scenario.threads),
        )
        progress.step_started(run_label(record), workload, step)
        result = backend.measure(server, workload, step)
        slot.served = True
        fault = backend.infrastructure_fault()
        if fault is not None:
            # The fault names the cause, whatever the step made of it ("pool exhausted"...).
            result = failed_step(step, fault)
        steps.append(result)
        steps[:] = with_saturation(steps)
        done += 1
        progress.step_done(run_label(record), workload, steps[-1])
        if fault is not None:
            put(fault)
            progress.skipped(planned - done)
            raise InfrastructureFault(_fault(fault, task, step.label))
        put(INCOMPLETE)
        if task.search_start is not None:
            met = not slo_misses(result, slo)
            probes.append((step.level, met))
            # Round 0 may leap while the server idles far within the SLO; a confirmation
            # starts near capacity.
            headroom = (
                task.purpose == "search"
                and result.cpu_util < SEARCH_HEADROOM
                and slo_load(result, slo) < SEARCH_HEADROOM
            )
            rate = next_search_rate(task.search_start, probes, task.search_limit(plan), headroom)
            todo = [] if rate is None else [LoadStep("open", rate)]
            if rate is None:
                progress.skipped(planned - done)
        elif result.model == "closed" and NO_SUCCESS in (result.error or ""):
            # Not one response within the timeout: more users can only queue longer.
            higher = [t for t in todo if t.model == "closed" and t.level > step.level]
            todo = [t for t in todo if t not in higher]
            progress.skipped(len(higher))
            if higher:
                progress.phase(
                    f"{run_label(record)} {workload}: skipping "
                    f"{', '.join(t.label for t in higher)} (no response at {step.label})"
                )
        if not todo and not open_added:
            open_added = True
            todo = plan.open_steps(steps)
            progress.skipped(planned - done - len(todo))
    failed = [s for s in steps if s.status == "failed"]
    put(f"{len(failed)} of {len(steps)} steps failed: {failed[0].error}" if failed else None)


def _first_steps(plan: Plan, task: Task) -> list[LoadStep]:
    if task.search_start is not None:
        first = next_search_rate(task.search_start, [], task.search_limit(plan))
        return [] if first is None else [LoadStep("open", first)]
    return list(plan.closed_steps) if task.steps is None else list(task.steps)
