// A traffic mix: a workload whose requests are other workloads' (its parts), each sent in its
// share of the step's requests. The scenario's `mix` holds the shares (of one) by part; a
// workload that is not a mix is its own single part. Selectors and tag: djbench/contracts/
// k6_step.py (PART_TAG, part_selector); tests diff this file against it.

// 1/φ: the golden ratio's fraction. The points i/φ mod 1 of consecutive iterations spread over
// [0, 1) as evenly as any sequence can (a Kronecker sequence), so every run of iterations, a
// measured window's included, holds each part within a few requests of its share, where
// random draws would stray by about √(n·share).
const GOLDEN = 0.6180339887498949;

export function mixParts(scenario, workload) {
  const shares = (scenario.mix || {})[workload];
  const entries = shares ? Object.entries(shares) : [[workload, 1]];
  let upTo = 0;
  return entries.map(([name, share]) => {
    const request = scenario.requests[name];
    if (request === undefined) {
      throw new Error(`workload ${name} is not in the scenario`);
    }
    upTo += share;
    return { name, share, upTo, request };
  });
}

// The part iteration `i` sends: the one whose stretch of [0, 1) holds i/φ mod 1 (the stretches
// laid end to end in the mix's order; the last closes at 1 whatever the rounding of the shares).
export function partAt(parts, i) {
  const point = (i * GOLDEN) % 1;
  for (const part of parts) {
    if (point < part.upTo) {
      return part;
    }
  }
  return parts[parts.length - 1];
}

// The selector of one part's requests in the measured phase: `{phase:measure,name:cpu}`.
export function partSelector(name) {
  return `{phase:measure,name:${name}}`;
}
