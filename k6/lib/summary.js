// What the summary says of the measured latency: its percentiles on a fine grid (the pod's
// quantile function), so the harness merges the pods of one step exactly enough.
// The grid: djbench/contracts/k6_step.py (QUANTILE_STEPS, QUANTILE_GRID, quantile_stat); tests diff
// this file against it.

// [from, to, perPercent]: percent points from `from` up to below `to`, `perPercent` per percent.
const QUANTILE_STEPS = [
  [0, 90, 2],
  [90, 99, 10],
  [99, 100, 100],
];

export function quantileGrid() {
  const points = [];
  for (const [start, stop, perPercent] of QUANTILE_STEPS) {
    for (let i = start * perPercent; i < stop * perPercent; i++) {
      points.push(i / perPercent);
    }
  }
  points.push(100);
  return points;
}

// Functions, not constants: every VU evaluates this module when it is initialised, and only
// the options need the grid.
export function quantileStats() {
  return quantileGrid().map((q) => `p(${q})`);
}

// `summaryTrendStats`: the usual columns, then the grid's.
export function trendStats(usual) {
  return [...usual, ...quantileStats().filter((stat) => !usual.includes(stat))];
}

// The summary's metrics with the grid kept only on the metrics named in `keep`: the others
// keep `usual`.
export function gridOnlyOn(metrics, keep, usual) {
  const out = {};
  for (const [name, metric] of Object.entries(metrics)) {
    if (metric.type !== 'trend' || keep.includes(name)) {
      out[name] = metric;
      continue;
    }
    const values = {};
    for (const stat of usual) {
      if (stat in metric.values) {
        values[stat] = metric.values[stat];
      }
    }
    out[name] = { ...metric, values };
  }
  return out;
}
