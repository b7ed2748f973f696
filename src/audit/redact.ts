/**
 * Scrub what a client wrote before it goes into a log line or an answer: a URL's query string can
 * carry `?token=…`, and a path can carry a bearer-looking segment. Both are replaced, not truncated.
 */
const SECRET_PARAM = /(token|secret|password|passwd|pwd|key|auth|signature|sig|session|credential|code)/i;
/** Long runs of token alphabet: JWTs, API keys, UUID-ish secrets. Ids we must keep are shorter. */
const TOKEN_SHAPED = /[A-Za-z0-9_\-.~+=]{32,}/g;

export function redactText(text: string): string {
  return text.replace(TOKEN_SHAPED, '[redacted]');
}

/** Path and query for a log line: secret-named parameters and token-shaped values are blanked. */
export function redactPath(pathAndQuery: string): string {
  const q = pathAndQuery.indexOf('?');
  const path = redactText(q < 0 ? pathAndQuery : pathAndQuery.slice(0, q)).slice(0, 512);
  if (q < 0) return path;
  const parts = pathAndQuery
    .slice(q + 1)
    .split('&')
    .slice(0, 32)
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      if (eq < 0) return redactText(name);
      if (SECRET_PARAM.test(name)) return `${redactText(name)}=[redacted]`;
      return `${redactText(name)}=${redactText(pair.slice(eq + 1)).slice(0, 128)}`;
    });
  return `${path}?${parts.join('&')}`;
}

/** Argument names whose string values are likely secrets: shown to a person as [redacted], bound by hash only. */
const SECRET_KEY = /value|secret|token|password|passwd|credential|auth|key|dsn|url/i;

/**
 * Arguments as a person may see them: secret-looking values blanked, token-shaped text scrubbed,
 * and every value under one of `opaqueMaps` (maps whose values are all secrets, such as a
 * provider's environment variables) blanked whatever its name.
 */
export function displayValue(v: unknown, key: string, opaqueMaps: ReadonlySet<string>): unknown {
  if (typeof v === 'string') return SECRET_KEY.test(key) ? '[redacted]' : redactText(v);
  if (Array.isArray(v)) return v.map((x) => displayValue(x, key, opaqueMaps));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = opaqueMaps.has(key) ? '[redacted]' : displayValue(x, k, opaqueMaps);
    return out;
  }
  return v;
}
