// Builds the k6 scenarios of one step: a warm-up at the same load, then the measured phase.

function seconds(value) {
  return `${Math.max(value, 0).toFixed(3)}s`;
}

function loadShape(step, durationS) {
  const s = step.scenario;
  if (step.model === 'closed') {
    return { executor: 'constant-vus', vus: Math.round(step.level), duration: seconds(durationS) };
  }
  // Integer rate per time unit: 1000 time-unit seconds keep fractional req/s exact.
  const maxVUs = s.open.max_vus;
  const expectedBusy = Math.ceil(step.level * Math.min(s.request_timeout_s, 2));
  return {
    executor: 'constant-arrival-rate',
    rate: Math.max(1, Math.round(step.level * 1000)),
    timeUnit: '1000s',
    duration: seconds(durationS),
    preAllocatedVUs: Math.max(1, Math.min(maxVUs, expectedBusy)),
    maxVUs,
  };
}

export function buildScenarios(step) {
  const s = step.scenario;
  const scenarios = {};
  if (s.warmup_s > 0) {
    scenarios.warmup = {
      ...loadShape(step, s.warmup_s),
      startTime: '0s',
      // Cut the warm-up off sharply so it never overlaps the measured phase.
      gracefulStop: '0s',
      exec: 'hit',
      tags: { ...step.tags, phase: 'warmup' },
    };
  }
  scenarios.measure = {
    ...loadShape(step, s.duration_s),
    startTime: seconds(s.warmup_s),
    // In-flight requests at the end finish and count: the duration is taken from the run.
    gracefulStop: seconds(s.request_timeout_s + 1),
    exec: 'hit',
    tags: { ...step.tags, phase: 'measure' },
  };
  return scenarios;
}
