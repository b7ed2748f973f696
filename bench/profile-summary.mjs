// Summarise a V8 .cpuprofile (from `node --cpu-prof`): where the time went, by function (self
// time), by file or package (self time), and scopegate's own functions by inclusive time.
// Usage: node bench/profile-summary.mjs FILE.cpuprofile   (run.mjs --profile calls it too)
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function where(url) {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return url;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm:${nm[1]}`;
  const dist = /\/dist\/(.+)$/.exec(url);
  if (dist) return `dist/${dist[1]}`;
  return url.replace(/^file:\/\//, '');
}

/**
 * `windows`, when given: [startµs, endµs] pairs on CLOCK_MONOTONIC (the profile's own clock, and
 * process.hrtime's): only the samples taken inside them count.
 */
export function summarise(path, top = 25, windows = null) {
  const prof = JSON.parse(readFileSync(path, 'utf8'));
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  // self time per node from samples x timeDeltas (µs)
  const self = new Map();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i] ?? 0;
    if (windows && !windows.some(([a, b]) => t >= a && t <= b)) continue;
    self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  if (windows && self.size === 0) throw new Error(`no sample of ${path} falls inside the windows given (profile ${prof.startTime}-${prof.endTime} µs, windows ${JSON.stringify(windows)})`);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => `${n.callFrame.functionName || '(anonymous)'} ${where(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

  const byFn = new Map();
  const byFile = new Map();
  const inclusive = new Map();
  for (const [id, us] of self) {
    const n = nodes.get(id);
    byFn.set(key(n), (byFn.get(key(n)) ?? 0) + us);
    const f = where(n.callFrame.url);
    byFile.set(f, (byFile.get(f) ?? 0) + us);
    // inclusive: credit every distinct scopegate (dist/) frame on the stack once
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const c = nodes.get(cur);
      if (!/\/dist\//.test(c.callFrame.url)) continue;
      const k = key(c);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const idle = [...byFn].filter(([k]) => /^\((idle|program|garbage collector)\)/.test(k));
  const pctOf = (us) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const list = (m, n, filter = () => true) =>
    [...m].filter(([k]) => filter(k)).sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `  ${pctOf(us)}  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`).join('\n');
  return [
    `${windows ? `only the samples inside ${windows.length} window(s); ` : ''}total sampled ${(total / 1e6).toFixed(2)} s; ${idle.map(([k, us]) => `${k.split(' ')[0]} ${pctOf(us).trim()}`).join(', ')}`,
    '',
    `self time by function (top ${top}):`,
    list(byFn, top),
    '',
    'self time by file / package (top 20):',
    list(byFile, 20),
    '',
    'scopegate functions by inclusive time (top 20):',
    list(inclusive, 20),
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv[2]) {
    process.stderr.write('usage: node bench/profile-summary.mjs FILE.cpuprofile\n');
    process.exit(2);
  }
  process.stdout.write(summarise(process.argv[2]));
}
