import type { NeonCatalogue, NeonEntry } from './catalogue.js';

/** One path template, split: fixed segments must be equal, `{name}` segments bind a parameter. */
interface Route {
  operationId: string;
  entry: NeonEntry;
  segments: ({ fixed: string } | { param: string })[];
}

export interface RouteMatch {
  operationId: string;
  entry: NeonEntry;
  params: Record<string, string>;
}

/**
 * The catalogue as a router: method and decoded path segments → the operation Neon would run.
 * A fixed segment beats a parameter at the same place (`/projects/shared` is not project
 * "shared"), as in every router that serves such overlapping templates.
 */
export class NeonRouter {
  private readonly byMethod = new Map<string, Route[]>();
  /** Fixed segments of every template, lower-cased: a path that differs from one only in case is ambiguous. */
  readonly fixedWords = new Set<string>();

  constructor(catalogue: NeonCatalogue) {
    for (const [operationId, entry] of Object.entries(catalogue.operations)) {
      const segments = entry.path.split('/').slice(1).map((s): { fixed: string } | { param: string } => (/^\{[^}]+\}$/.test(s) ? { param: s.slice(1, -1) } : { fixed: s }));
      for (const s of segments) if ('fixed' in s) this.fixedWords.add(s.fixed.toLowerCase());
      const list = this.byMethod.get(entry.method) ?? [];
      list.push({ operationId, entry, segments });
      this.byMethod.set(entry.method, list);
    }
    // more fixed segments first, earlier fixed segments first: the most specific template wins
    for (const list of this.byMethod.values()) list.sort((a, b) => specificity(b) - specificity(a));
  }

  /** The operation for this method and these decoded segments, or null. */
  match(method: string, segments: readonly string[]): RouteMatch | null {
    for (const r of this.byMethod.get(method) ?? []) {
      if (r.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segments.length && ok; i++) {
        const s = r.segments[i]!;
        if ('fixed' in s) ok = s.fixed === segments[i];
        else params[s.param] = segments[i]!;
      }
      if (ok) return { operationId: r.operationId, entry: r.entry, params };
    }
    return null;
  }

  /** Methods some template accepts at these segments (for HEAD and OPTIONS, which have no entries of their own). */
  methodsAt(segments: readonly string[]): string[] {
    const out: string[] = [];
    for (const m of this.byMethod.keys()) if (this.match(m, segments)) out.push(m);
    return out;
  }
}

function specificity(r: Route): number {
  let score = 0;
  r.segments.forEach((s, i) => {
    if ('fixed' in s) score += 2 ** (20 - i);
  });
  return score;
}
