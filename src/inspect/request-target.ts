/** The parts of an origin-form request target, as every server splits them, or why servers would not agree. */
export type RequestTarget = { path: string; query: string } | { problem: string };

/**
 * Split a request target (`/path?query`) into path and query only where every server splits it
 * the same way. Servers stop at a fragment, or do not; some split `;` parameters off the path or
 * the query; some decode the path before looking for `?` (so `%3F` starts a query) or take the
 * last `?`. Each of those lets the judged query string differ from the executed one, so a target
 * with any of them is refused.
 */
export function splitTarget(url: string): RequestTarget {
  if (url.includes('#')) return { problem: 'the request target has a fragment ("#"); servers disagree on whether it ends the query; leave it out' };
  if (url.includes(';')) return { problem: 'the request target has ";", which some servers read as a parameter separator; percent-encode it' };
  if (url.includes('\\')) return { problem: 'the request target has a backslash, which some servers read as "/"; leave it out' };
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  if (query.includes('?')) return { problem: 'the request target has more than one "?"; servers disagree on where the query starts; percent-encode the later ones' };
  if (/%(3f|23|3b)/i.test(path)) return { problem: 'the request path has an encoded "?", "#" or ";", which servers that decode the path first read as a query; leave it out' };
  return { path, query };
}

/**
 * Parse a query string or form body as URLSearchParams does, after checking that every
 * percent-escape is well formed and decodes to UTF-8: readers disagree on broken escapes (one
 * keeps the raw text, another substitutes U+FFFD), so those are refused.
 */
export function parseParams(text: string, what: string): URLSearchParams | { problem: string } {
  if (text.includes('%')) {
    for (const piece of text.split('&')) {
      try {
        decodeURIComponent(piece.replace(/\+/g, ' '));
      } catch {
        return { problem: `${what} has a percent-escape that is malformed or not UTF-8 ("${piece.slice(0, 60)}"); readers decode it differently` };
      }
    }
  }
  return new URLSearchParams(text);
}

/** The GraphQL-over-HTTP request parameters; any of them may arrive in a URL or a form. */
export const GRAPHQL_PARAMS = ['query', 'variables', 'operationName', 'extensions'] as const;

/**
 * Which GraphQL parameters these params carry. A bracketed or dotted spelling
 * (`variables[id]=…`, `query[]=…`, `variables.id=…`) is how qs-style parsers (Express's default
 * `req.query`, body-parser's extended forms) build objects and arrays, which a URLSearchParams
 * reader does not see; such a spelling is refused instead of being read one of the two ways.
 */
export function graphqlParamsIn(params: URLSearchParams, what: string): { names: Set<string> } | { problem: string } {
  const names = new Set<string>();
  for (const key of params.keys()) {
    for (const name of GRAPHQL_PARAMS) {
      if (key === name) names.add(name);
      else if (key.startsWith(`${name}[`) || key.startsWith(`${name}.`) || key.startsWith(`${name}%`)) {
        return { problem: `${what} spells the GraphQL parameter ${name} as "${key.slice(0, 60)}", which some servers read as an object or a list; send it as ${name}=…` };
      }
    }
  }
  return { names };
}
