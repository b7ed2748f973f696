import { createHash } from 'node:crypto';

/**
 * Automatic persisted queries: a client may send only a hash once the server knows its text.
 * scopegate forwards a hash-only request only if it has itself seen the text with that hash,
 * so it always judges the document the server will run.
 */
export class PersistedQueries {
  private readonly texts = new Map<string, string>();

  constructor(private readonly maxEntries = 5000) {}

  /** Remember `query` under its sha256; false if the client's hash does not match the text. */
  learn(hash: string, query: string): boolean {
    const actual = createHash('sha256').update(query).digest('hex');
    if (actual !== hash) return false;
    this.texts.delete(hash);
    this.texts.set(hash, query);
    if (this.texts.size > this.maxEntries) this.texts.delete(this.texts.keys().next().value as string);
    return true;
  }

  lookup(hash: string): string | undefined {
    return this.texts.get(hash);
  }
}
