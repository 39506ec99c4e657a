"""Runs a plan on a backend: verify, measure step by step, write results after every step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from djbench.backends.base import Backend, ServerT
from djbench.backends.steps import NO_SUCCESS, failed_step
from djbench.model.names import run_label
from djbench.model.pod import PodFacts
from djbench.model.results import Environment, PathCheck, Results, Run, Step
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
from djbench.run.records import (
    INCOMPLETE,
    InfrastructureFault,
    Task,
    fault_of,
    run_record,
    with_saturation,
)
from djbench.run.reporting import Progress
from djbench.run.slot import ServerSlot, ServerStartError, ready_server
from djbench.run.writer import ResultsWriter, now_iso


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
    mine = [
        s
        for s in plan.setups
        if (s.variant.name, s.distance, s.shape) == (run.variant, run.distance, run.shape)
    ]
    wanted = run.client.name if run.client is not None else mine[0].client
    return next(s for s in mine if s.client == wanted)


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
                    run = run_record(rest, plan, [], error)
                    writer.put(None, run)
                    progress.run_failed(run_label(run), rest.workload, error)
                progress.skipped(sum(t.planned(plan) for t in tasks[number + 1 :]))
                return
    finally:
        slot.close()


def _check_infrastructure(
    backend: Backend[ServerT], task: Task, record: Run, load: str | None
) -> None:
    fault = backend.infrastructure_fault()
    if fault is not None:
        raise InfrastructureFault(fault_of(fault, task, load))


def verify_parts(
    backend: Backend[ServerT], server: ServerT, scenario: Scenario, workload: str
) -> str | None:
    """The first wrong answer among the requests a workload sends (each part of a mix, in
    its order), None when every one is right."""
    for part in scenario.parts(workload):
        problem = backend.verify(server, part)
        if problem:
            return problem if part == workload else f"{workload}'s part {part}: {problem}"
    return None


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
    pod: PodFacts | None = None
    restarted = len(slot.restarts)
    load_average = backend.load_average()

    def put(error: str | None) -> None:
        run = run_record(
            task, plan, steps, error, paths, slot.restarts[restarted:], load_average, pod
        )
        writer.put(index, run)
        if error is not None and error != INCOMPLETE:
            progress.run_failed(run_label(run), workload, error)

    record = run_record(task, plan, steps, INCOMPLETE, load_average=load_average)
    index = writer.put(None, record)
    planned = task.planned(plan)
    _check_infrastructure(backend, task, record, None)
    try:
        server = ready_server(slot)
        paths, pod = list(server.paths), server.pod
        problem = verify_parts(backend, server, plan.scenario, workload)
        if problem and slot.served:
            # A server that served steps before may be what is broken, not the request: a
            # fresh one (the project's database as prepared) answers for the request.
            server = ready_server(slot, f"before {workload}: {problem}")
            paths, pod = list(server.paths), server.pod
            problem = verify_parts(backend, server, plan.scenario, workload)
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
            server = ready_server(slot)
            paths, pod = list(server.paths), server.pod
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
            slots=task.setup.slots,
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
            raise InfrastructureFault(fault_of(fault, task, step.label))
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
