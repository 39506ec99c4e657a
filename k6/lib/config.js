// Reads the run's configuration: the resolved scenario (JSON, the same document locally and in
// Kubernetes Jobs) plus which step to run, from environment variables.

export function required(name) {
  const value = __ENV[name];
  if (value === undefined || value === '') {
    throw new Error(`environment variable ${name} is required`);
  }
  return value;
}

export function loadStep() {
  const scenario = JSON.parse(open(required('DJBENCH_SCENARIO')));
  const workload = required('DJBENCH_WORKLOAD');
  const request = scenario.requests[workload];
  if (request === undefined) {
    throw new Error(`workload ${workload} is not in the scenario`);
  }
  const model = required('DJBENCH_MODEL');
  if (model !== 'closed' && model !== 'open') {
    throw new Error(`DJBENCH_MODEL must be closed or open, not ${model}`);
  }
  const level = Number(required('DJBENCH_LEVEL'));
  if (!(level > 0)) {
    throw new Error(`DJBENCH_LEVEL must be a positive number, not ${__ENV.DJBENCH_LEVEL}`);
  }
  return {
    scenario,
    workload,
    request,
    model,
    level,
    views: required('DJBENCH_VIEWS'),
    target: required('DJBENCH_TARGET').replace(/\/$/, ''),
    // Execution segments split one step across several k6 pods (Kubernetes Jobs).
    segment: __ENV.DJBENCH_SEGMENT || undefined,
    segmentSequence: __ENV.DJBENCH_SEGMENT_SEQUENCE || undefined,
    tags: {
      run: __ENV.DJBENCH_RUN || 'local',
      variant: __ENV.DJBENCH_VARIANT || '',
      workload,
      step: `${model}-${level}`,
    },
  };
}

export function queryString(query) {
  const parts = Object.keys(query || {})
    .sort()
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(query[k])}`);
  return parts.length ? `?${parts.join('&')}` : '';
}
