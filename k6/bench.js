// djbench load script: one step (warm-up + measured phase) against one variant and workload.
//
// Environment: DJBENCH_SCENARIO (resolved scenario JSON), DJBENCH_TARGET (base URL),
// DJBENCH_VIEWS, DJBENCH_WORKLOAD, DJBENCH_MODEL (closed|open), DJBENCH_LEVEL (VUs or req/s),
// optional DJBENCH_SUMMARY (path of the JSON summary), DJBENCH_RUN, DJBENCH_VARIANT, DJBENCH_CLIENT (tags),
// DJBENCH_PARALLELISM with JOB_COMPLETION_INDEX (one step split across the pods of a Job).
// The environment, the tags and the completions metric are the k6 contract,
// djbench/contracts/k6_step.py (tested against it).
import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';
import { loadStep, queryString } from './lib/config.js';
import { COMPLETED_METRIC, measuredWindow, windowCredit } from './lib/credit.js';
import { buildScenarios, phaseAt } from './lib/executors.js';
import { partAt, partSelector } from './lib/mix.js';
import { gridOnlyOn, trendStats } from './lib/summary.js';

const step = loadStep();
const measured = '{phase:measure}';
const usualTrendStats = ['min', 'avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'];

// k6 reads the options from one init run with __VU 0; each VU's own init skips building them.
// An open step initialises its pre-allocated VUs before it starts (about a thousand per
// scenario on `upstream`): 0.44 ms a VU instead of 0.98 on the reference machine
// (benchmarks/k6_vu_init.py).
export const options = __VU === 0 ? buildOptions() : {};

function buildOptions() {
  return {
    scenarios: buildScenarios(step),
    // Test-wide tags reach every metric, k6_vus included (scenario tags do not).
    tags: step.tags,
    executionSegment: step.segment,
    executionSegmentSequence: step.segmentSequence,
    // Submetrics exist only for metrics named in thresholds; these always pass.
    thresholds: {
      [`http_req_duration${measured}`]: ['max>=0'],
      [`http_req_failed${measured}`]: ['rate>=0'],
      [`http_reqs${measured}`]: ['count>=0'],
      // Dropped iterations carry the scenario, not the phase; the closed model never drops.
      'dropped_iterations{scenario:measure}': ['count>=0'],
      [`checks${measured}`]: ['rate>=0'],
      // Whole metric: a response started in the warm-up but finished in the window counts too.
      [COMPLETED_METRIC]: ['count>=0'],
      ...partThresholds(),
    },
    // The measured latency's percentiles on the contract's grid: pods of one step merge on them.
    summaryTrendStats: trendStats(usualTrendStats),
    discardResponseBodies: false,
    noVUConnectionReuse: false,
    setupTimeout: '30s',
    teardownTimeout: '5s',
  };
}

// A mix's parts, each on its own (the mix's own figures are the step's); none for a workload
// that is not a mix.
function partThresholds() {
  const out = {};
  if (step.parts.length > 1) {
    for (const part of step.parts) {
      const selector = partSelector(part.name);
      out[`http_req_duration${selector}`] = ['max>=0'];
      out[`http_reqs${selector}`] = ['count>=0'];
      out[`http_req_failed${selector}`] = ['rate>=0'];
    }
  }
  return out;
}

// Successful responses credited to the measured window (lib/credit.js): throughput is its
// count over the window, requests started in it would count whole closed-loop cycles.
const completed = new Counter(COMPLETED_METRIC);

// What each part sends, built once: its URL, body, headers, tags, the status a correct answer
// has and the pause after it. The `name` tag is the part's (the workload's own when it is no mix).
function sender(part) {
  const { request } = part;
  // A string body goes as it is (its Content-Type among the request's headers), any other JSON
  // value as JSON: djbench.measure.verify.encoded_body sends the same.
  const rawBody = typeof request.body === 'string';
  const body = request.body === null || rawBody ? request.body : JSON.stringify(request.body);
  return {
    upTo: part.upTo,
    method: request.method,
    url: `${step.target}${request.path.replace('{views}', step.views)}${queryString(request.query)}`,
    body,
    params: {
      headers: {
        ...(body === null || rawBody ? {} : { 'Content-Type': 'application/json' }),
        ...request.headers,
      },
      timeout: `${step.scenario.request_timeout_s}s`,
      tags: { name: part.name },
    },
    okStatus: request.status,
    thinkS: request.think_time_ms / 1000,
  };
}
const senders = step.parts.map(sender);

export function setup() {
  // Any answer below 500 says the server is up (a project may answer 404 or redirect there).
  const res = http.get(`${step.target}${step.scenario.health_path}`, { timeout: '10s' });
  if (res.status === 0 || res.status >= 500) {
    exec.test.abort(`target ${step.target} is not healthy: status ${res.status}`);
  }
  // Wall-clock start of the scenarios: the harness aligns its CPU samples to it.
  return { startedAtMs: Date.now() };
}

export function hit(data) {
  // Iterations are numbered across the scenario's VUs (and the pods of a Job): a mix's shares
  // hold in any run of them.
  const send = senders.length === 1 ? senders[0] : partAt(senders, exec.scenario.iterationInTest);
  const { params } = send;
  const tags = { ...params.tags, phase: phaseAt(step, exec.scenario.name, data.startedAtMs) };
  const sentMs = Date.now();
  const res = http.request(send.method, send.url, send.body, { ...params, tags });
  const doneMs = Date.now();
  // Success as http_req_failed sees it (k6's default expected statuses, 200-399).
  if (res.status >= 200 && res.status < 400) {
    completed.add(windowCredit(sentMs, doneMs, measuredWindow(step, data.startedAtMs)));
  }
  check(res, { 'status is expected': (r) => r.status === send.okStatus }, tags);
  if (send.thinkS > 0) {
    sleep(send.thinkS);
  }
}

function gridded() {
  const parts = step.parts.length > 1 ? step.parts.map((p) => partSelector(p.name)) : [];
  return [measured, ...parts].map((selector) => `http_req_duration${selector}`);
}

export function handleSummary(data) {
  const out = {
    finishedAtMs: Date.now(),
    startedAtMs: data.setup_data ? data.setup_data.startedAtMs : null,
    testRunDurationMs: data.state.testRunDurationMs,
    step: {
      workload: step.workload,
      views: step.views,
      model: step.model,
      level: step.level,
      parts: step.parts.map((part) => part.name),
    },
    segment: step.segment || '0:1',
    // The grid only where the harness reads it (a mix's parts merge across pods too): one
    // stdout line per pod stays small.
    metrics: gridOnlyOn(data.metrics, gridded(), usualTrendStats),
  };
  const json = JSON.stringify(out);
  const files = { stdout: `${json}\n` };
  if (__ENV.DJBENCH_SUMMARY) {
    files[__ENV.DJBENCH_SUMMARY] = json;
  }
  return files;
}
