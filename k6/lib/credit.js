// Throughput without phase quantization: each successful response is credited to the measured
// window with the share of its own duration that lies inside the window. In a closed loop one
// VU's requests tile its time, so its credits add up to window / cycle exactly, however the
// VUs' cycles fall against the window's edges; counting requests started in the window instead
// counts whole cycles (32 VUs × 3 cycles of 600 ms in 2 s: 48 req/s where 53 are served).
// The metric's name: djbench/load/contract.py (COMPLETED_METRIC); tests diff it against this.

export const COMPLETED_METRIC = 'djbench_completed';

// The measured window in wall-clock milliseconds: the warm-up after setup(), then the phase.
export function measuredWindow(step, startedAtMs) {
  const startMs = startedAtMs + step.scenario.warmup_s * 1000;
  return { startMs, endMs: startMs + step.scenario.duration_s * 1000 };
}

// The share of a request [startMs, endMs] inside the window [window.startMs, window.endMs):
// 1 wholly inside, 0 wholly outside, the overlap over the request's duration across an edge.
// A request too quick to measure (end <= start) counts where it started.
export function windowCredit(startMs, endMs, window) {
  if (!(endMs > startMs)) {
    return startMs >= window.startMs && startMs < window.endMs ? 1 : 0;
  }
  const overlap = Math.min(endMs, window.endMs) - Math.max(startMs, window.startMs);
  return overlap > 0 ? overlap / (endMs - startMs) : 0;
}
