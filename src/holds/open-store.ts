import type { Logger } from '../audit/logger.js';
import { errorMessage, StoreError } from '../errors.js';
import { PostgresHoldStore } from './postgres-store.js';
import { SqliteHoldStore } from './sqlite-store.js';
import type { StoreSpec } from './store-spec.js';
import type { HoldStore } from './store-types.js';

/**
 * Open the store a spec names, migrated to this code's schema. Throws StoreError with the reason
 * (unreachable, a newer schema, a directory that cannot be written); messages show the store only
 * in its redacted form.
 */
export async function openStore(spec: StoreSpec, logger?: Logger): Promise<HoldStore> {
  if (spec.kind === 'sqlite') return new SqliteHoldStore(spec.dir, spec.file);
  try {
    return await PostgresHoldStore.open(spec.url, {
      shown: spec.shown,
      onHealth: (h) =>
        h.state === 'down'
          ? logger?.error({ store: spec.shown, reason: h.reason }, 'the store cannot be reached: holds, approvals, allowed changes and placeholder checks are refused until it answers again')
          : logger?.warn({ store: spec.shown }, 'the store answers again'),
    });
  } catch (err) {
    throw err instanceof StoreError ? err : new StoreError(`cannot open the store ${spec.shown}: ${errorMessage(err)}`);
  }
}
