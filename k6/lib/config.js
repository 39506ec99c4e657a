// Reads the run's configuration: the resolved scenario (JSON, the same document locally and in
// Kubernetes Jobs) plus which step to run, from environment variables.
// Variables and tags: djbench/contracts/k6_step.py (ENV, TAGS, step_tag); tests diff this file
// against it.

import { mixParts } from './mix.js';

export function required(name) {
  const value = __ENV[name];
  if (value === undefined || value === '') {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

// A step's own timing: the harness sizes each step by the evidence it needs.
function seconds(name, text) {
  const value = Number(text);
  if (!(value >= 0)) {
    throw new Error(`${name} must be a number of seconds >= 0, not ${text}`);
  }
  return value;
}

// An open step's VU ceiling (the harness sizes it from the rate and the SLO) and the VUs it
// allocates up front: counts for all pods together (k6's execution segments split them).
function wholeAtLeastOne(name, text) {
  const value = Number(text);
  if (!(Number.isInteger(value) && value >= 1)) {
    throw new Error(`${name} must be a whole number >= 1, not ${text}`);
  }
  return value;
}

export function loadStep() {
  const scenario = {
    ...JSON.parse(open(required('DJBENCH_SCENARIO'))),
    warmup_s: seconds('DJBENCH_WARMUP_S', required('DJBENCH_WARMUP_S')),
    duration_s: seconds('DJBENCH_DURATION_S', required('DJBENCH_DURATION_S')),
  };
  const workload = required('DJBENCH_WORKLOAD');
  // A mix's parts, or the workload alone (lib/mix.js).
  const parts = mixParts(scenario, workload);
  const model = required('DJBENCH_MODEL');
  if (model !== 'closed' && model !== 'open') {
    throw new Error(`DJBENCH_MODEL must be closed or open, not ${model}`);
  }
  const level = Number(required('DJBENCH_LEVEL'));
  if (!(level > 0)) {
    throw new Error(`DJBENCH_LEVEL must be a positive number, not ${__ENV.DJBENCH_LEVEL}`);
  }
  // Closed steps ignore both (their VUs are the level), but both are always given.
  const maxVUs = wholeAtLeastOne('DJBENCH_MAX_VUS', required('DJBENCH_MAX_VUS'));
  const preVUs = wholeAtLeastOne('DJBENCH_PRE_VUS', required('DJBENCH_PRE_VUS'));
  return {
    scenario,
    workload,
    parts,
    model,
    level,
    maxVUs,
    preVUs,
    views: required('DJBENCH_VIEWS'),
    target: required('DJBENCH_TARGET').replace(/\/$/, ''),
    ...executionSegment(),
    tags: {
      run: __ENV.DJBENCH_RUN || 'local',
      variant: __ENV.DJBENCH_VARIANT || '',
      client: __ENV.DJBENCH_CLIENT || '',
      workload,
      step: `${model}-${level}`,
    },
  };
}

// Splits one step across the pods of an indexed Kubernetes Job: pod i of n runs the segment
// i/n:(i+1)/n, so the pods together produce exactly the scenario's load.
export function executionSegment() {
  const parallelism = Number(__ENV.DJBENCH_PARALLELISM || '1');
  const index = Number(__ENV.JOB_COMPLETION_INDEX || '0');
  if (!(parallelism > 1)) {
    return { segment: undefined, segmentSequence: undefined };
  }
  if (!(index >= 0 && index < parallelism)) {
    throw new Error(`JOB_COMPLETION_INDEX ${index} is outside 0..${parallelism - 1}`);
  }
  const cut = (i) => (i === 0 ? '0' : i === parallelism ? '1' : `${i}/${parallelism}`);
  const sequence = [];
  for (let i = 0; i <= parallelism; i += 1) {
    sequence.push(cut(i));
  }
  return { segment: `${cut(index)}:${cut(index + 1)}`, segmentSequence: sequence.join(',') };
}

export function queryString(query) {
  const parts = Object.keys(query || {})
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
