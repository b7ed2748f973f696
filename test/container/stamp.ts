import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a container test run records that its images are built (see ensureImages). */
export const imagesStamp = (runId: string): string => join(tmpdir(), `scopegate-container-images-${runId}.json`);
