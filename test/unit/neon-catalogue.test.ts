import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { neonCatalogue } from '../../src/providers/neon/catalogue.js';
import { run } from '../helpers/run.js';
import { ROOT } from '../helpers/proxy-process.js';

/** Neon's OpenAPI document lives beside the project (shared/neon), like Railway's schema. */
const SHARED_NEON = process.env['SCOPEGATE_NEON_SHARED'] ?? [resolve(ROOT, '..', 'shared', 'neon'), '/work/shared/neon'].find((p) => existsSync(join(p, 'openapi.yaml'))) ?? resolve(ROOT, '..', 'shared', 'neon');
const HAVE_NEON = existsSync(join(SHARED_NEON, 'openapi.yaml'));
const REPORT = join(ROOT, 'scripts', 'neon-catalogue-report.mjs');

describe('the Neon catalogue (src/providers/neon/catalogue.json)', () => {
  const cls = (id: string): string => neonCatalogue.operations[id]!.class;
  it('classes the calls the contract names as it says', () => {
    // a branch delete is irreversible with or without hard_delete: recovery is a preview feature
    expect(cls('deleteProjectBranch')).toBe('destructive-irreversible');
    expect(neonCatalogue.operations['deleteProjectBranch']!.effects).toContain('query.hard_delete');
    expect(cls('deleteProject')).toBe('destructive-irreversible');
    expect(neonCatalogue.operations['deleteProject']!.reach).toBe('project');
    expect(cls('restoreProjectBranch')).toBe('destructive-irreversible');
    expect(neonCatalogue.operations['restoreProjectBranch']!.payload?.kind).toBe('branch-restore');
    expect(cls('resetProjectBranchRolePassword')).toBe('credential');
    expect(cls('createApiKey')).toBe('credential');
    expect(cls('revokeApiKey')).toBe('credential');
    expect(cls('createOrgApiKey')).toBe('credential');
    expect(cls('deleteSnapshot')).toBe('destructive-irreversible');
    expect(cls('deleteProjectBranchDatabase')).toBe('destructive-irreversible');
    expect(cls('createProjectBranch')).toBe('create');
    expect(cls('startProjectEndpoint')).toBe('deploy');
    expect(cls('suspendProjectEndpoint')).toBe('destructive-recoverable');
    expect(cls('sendNeonAuthTestEmail')).toBe('benign');
    expect(cls('listProjectBranches')).toBe('read');
  });
  it('gives every operation that is not a read a target, and every GET is a read or says why not', () => {
    const bad = Object.entries(neonCatalogue.operations).filter(([, e]) => e.class !== 'read' && !e.target).map(([id]) => id);
    expect(bad).toEqual([]);
    const writesAsGet = Object.entries(neonCatalogue.operations).filter(([, e]) => e.method === 'GET' && e.class !== 'read').map(([id]) => id);
    expect(writesAsGet).toEqual([]);
  });
  it.skipIf(!HAVE_NEON)('the report script fails on a catalogue with a missing, a stale and a moved entry', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'sg-neon-cat-'));
    const ops = structuredClone(neonCatalogue.operations) as Record<string, { path: string }>;
    delete ops['deleteProjectBranch'];
    ops['deleteEverything'] = { ...ops['deleteProject']! };
    ops['getProject']!.path = '/projects/{id}';
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ operations: ops }));
    const r = await run(process.execPath, [REPORT, join(SHARED_NEON, 'openapi.yaml'), '--catalogue', join(dir, 'c.json')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/missing from the catalogue: 1\n {2}deleteProjectBranch/);
    expect(r.stdout).toMatch(/stale \(not in the document\): 1\n {2}deleteEverything/);
    expect(r.stdout).toMatch(/getProject: catalogue GET \/projects\/\{id\}/);
  });
  it.skipIf(!HAVE_NEON)("covers every operation of Neon's OpenAPI document (scripts/neon-catalogue-report.mjs exits 0)", async () => {
    const r = await run(process.execPath, [REPORT, join(SHARED_NEON, 'openapi.yaml')]);
    expect(r.stdout).toMatch(/\(163 operations\)/);
    expect(r.stdout).toMatch(/missing from the catalogue: 0/);
    expect(r.stdout).toMatch(/^OK$/m);
    expect(r.code).toBe(0);
  });
});
