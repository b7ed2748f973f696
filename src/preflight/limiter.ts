/**
 * At most `perCaller` pre-flight requests of one caller in flight at once: a check costs live
 * lookups, and an agent looping on checks must not crowd out the calls (its own or others')
 * that share the lookups' upstream. Slots are released by the holder; keys with none left go.
 */
export class CallerLimiter {
  private readonly running = new Map<string, number>();

  constructor(readonly perCaller: number) {}

  /** A slot for `caller` (call the returned function once, when done), or null when it has none free. */
  take(caller: string): (() => void) | null {
    const n = this.running.get(caller) ?? 0;
    if (n >= this.perCaller) return null;
    this.running.set(caller, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.running.get(caller) ?? 1) - 1;
      if (left <= 0) this.running.delete(caller);
      else this.running.set(caller, left);
    };
  }

  /** Callers with requests in flight now. */
  get size(): number {
    return this.running.size;
  }
}
