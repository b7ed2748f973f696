/**
 * Headers that decide how a server reads a request's body or which method it believes. Node keeps
 * the first of two Content-Type headers; other servers keep the last or join them. Method-override
 * headers turn a POST into a GET (whose parameters come from the URL) in frameworks that honour
 * them. Either makes the request mean different things to different readers, so neither is judged.
 */
const SINGLE = new Set(['content-type', 'content-encoding']);
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** Why these raw headers (Node's rawHeaders: name, value, name, value…) cannot be judged, or null. */
export function headerProblem(rawHeaders: readonly string[]): string | null {
  let seen: Set<string> | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (METHOD_OVERRIDES.has(name)) return `the ${rawHeaders[i]} header asks the server to treat the request as another method; send the method itself`;
    if (!SINGLE.has(name)) continue;
    seen ??= new Set();
    if (seen.has(name)) return `more than one ${name} header: servers disagree on which one counts; send one`;
    seen.add(name);
  }
  return null;
}
