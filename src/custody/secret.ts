import { createHash, timingSafeEqual } from 'node:crypto';
import { inspect } from 'node:util';

const SHOWN = '[secret]';

/**
 * A credential's value, held so that it cannot be printed by accident: String(), a template
 * literal, JSON.stringify, util.inspect (so console.log and pino's serialisers) all give
 * "[secret]". The value is in a private field; only reveal() gives it, at the one place that must
 * put it on the wire.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value itself: only for the header that carries it upstream. */
  reveal(): string {
    return this.#value;
  }

  /** Whether `candidate` is this secret, in time that does not depend on where they differ. */
  equals(candidate: string): boolean {
    const a = createHash('sha256').update(this.#value).digest();
    const b = createHash('sha256').update(candidate).digest();
    return timingSafeEqual(a, b);
  }

  toString(): string {
    return SHOWN;
  }

  toJSON(): string {
    return SHOWN;
  }

  [Symbol.toPrimitive](): string {
    return SHOWN;
  }

  [inspect.custom](): string {
    return SHOWN;
  }
}
