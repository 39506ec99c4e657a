// Builds the k6 scenarios of one step: a warm-up at the step's own load, then the measured
// phase. Requests are tagged `phase` (warmup|measure) and only `phase:measure` is reported.

function seconds(value) {
  return `${Math.max(value, 0).toFixed(3)}s`;
}

// The tag a request gets. Open model: its scenario (warmup or measure). Closed model: one
// continuous scenario, so the wall-clock time since setup() finished decides.
export function phaseAt(step, scenarioName, startedAtMs) {
  if (step.model === 'open') {
    return scenarioName;
  }
  return Date.now() - startedAtMs >= step.scenario.warmup_s * 1000 ? 'measure' : 'warmup';
}

function closedModel(step) {
  const s = step.scenario;
  // One continuous scenario: the same VUs warm up and then measure, so the load never pauses
  // and no request is cut off between the phases.
  return {
    measure: {
      executor: 'constant-vus',
      vus: Math.round(step.level),
      duration: seconds(s.warmup_s + s.duration_s),
      gracefulStop: seconds(s.request_timeout_s + 1),
      exec: 'hit',
      tags: { ...step.tags },
    },
  };
}

function arrivalRate(step, durationS) {
  const s = step.scenario;
  // The step's own ceiling (DJBENCH_MAX_VUS; the harness keeps it within open.max_vus).
  const { maxVUs } = step;
  // Integer rate per time unit: 1000-second units keep fractional req/s exact.
  return {
    executor: 'constant-arrival-rate',
    rate: Math.max(1, Math.round(step.level * 1000)),
    timeUnit: '1000s',
    duration: seconds(durationS),
    // Not every VU up front: k6 cycles through all allocated VUs, each keeping its own
    // keep-alive connection, so unused ones would open connections the load never needs.
    // k6 initialises further VUs, up to maxVUs, only when the pre-allocated ones are all busy.
    preAllocatedVUs: Math.min(step.preVUs, maxVUs),
    maxVUs,
    exec: 'hit',
    // Late responses of one phase finish during the next, as they would under steady load.
    gracefulStop: seconds(s.request_timeout_s + 1),
    tags: { ...step.tags },
  };
}

function openModel(step) {
  const s = step.scenario;
  const scenarios = {};
  if (s.warmup_s > 0) {
    scenarios.warmup = { ...arrivalRate(step, s.warmup_s), startTime: '0s' };
  }
  scenarios.measure = { ...arrivalRate(step, s.duration_s), startTime: seconds(s.warmup_s) };
  return scenarios;
}

export function buildScenarios(step) {
  return step.model === 'closed' ? closedModel(step) : openModel(step);
}
