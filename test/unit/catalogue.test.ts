import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildSchema, getNamedType, isInputObjectType, type GraphQLArgument, type GraphQLInputType } from 'graphql';
import { catalogue } from '../../src/providers/railway/index.js';
import { RAILWAY_SUBSET_SCHEMA_PATH } from '../fixtures/fake-railway/index.js';
import { HAVE_SHARED, SHARED_RAILWAY } from '../helpers/shared.js';
import { run } from '../helpers/run.js';
import { ROOT } from '../helpers/proxy-process.js';
import { join } from 'node:path';

const subset = buildSchema(readFileSync(RAILWAY_SUBSET_SCHEMA_PATH, 'utf8'));
const mutations = subset.getMutationType()!.getFields();

/** Does a dotted argument path exist in a field's arguments (walking input objects)? */
function pathExists(args: readonly GraphQLArgument[], path: string): boolean {
  const [head, ...rest] = path.split('.');
  const arg = args.find((a) => a.name === head);
  if (!arg) return false;
  let type: GraphQLInputType = arg.type;
  for (const key of rest) {
    const named = getNamedType(type);
    if (!isInputObjectType(named)) return false;
    const f = named.getFields()[key];
    if (!f) return false;
    type = f.type;
  }
  return true;
}

describe('the Railway catalogue (src/providers/railway/catalogue.json)', () => {
  it('has an entry for every mutation in the schema subset', () => {
    const missing = Object.keys(mutations).filter((m) => !catalogue.mutations[m]);
    expect(missing).toEqual([]);
  });
  it('names argument paths that exist, for every subset mutation', () => {
    const bad: string[] = [];
    for (const [name, field] of Object.entries(mutations)) {
      const e = catalogue.mutations[name]!;
      const paths = [e.target?.id, ...Object.values(e.target?.with ?? {}), e.payload?.kind === 'staged-patch' ? undefined : e.payload?.path].filter((p): p is string => !!p);
      for (const p of paths) if (!pathExists(field.args, p)) bad.push(`${name}: ${p}`);
    }
    expect(bad).toEqual([]);
  });
  it('classes the incident-shaped calls as the interface table expects', () => {
    const cls = (m: string) => catalogue.mutations[m]!.class;
    expect(cls('volumeDelete')).toBe('destructive-irreversible');
    expect(cls('serviceDelete')).toBe('destructive-irreversible');
    expect(cls('environmentDelete')).toBe('destructive-irreversible');
    expect(cls('volumeInstanceBackupDelete')).toBe('destructive-irreversible');
    expect(cls('variableDelete')).toBe('destructive');
    expect(cls('apiTokenCreate')).toBe('credential');
    expect(cls('projectTokenCreate')).toBe('credential');
    expect(cls('twoFactorInfoValidate')).toBe('benign');
    expect(cls('deploymentRedeploy')).toBe('deploy');
  });
  it.skipIf(!HAVE_SHARED)("covers every mutation of Railway's real public schema (scripts/catalogue-report.mjs exits 0)", async () => {
    const r = await run(process.execPath, [join(ROOT, 'scripts', 'catalogue-report.mjs'), join(SHARED_RAILWAY, 'schema.json')]);
    expect(r.stdout).toMatch(/missing from the catalogue: 0/i);
    expect(r.stdout).toMatch(/^OK$/m);
    expect(r.code).toBe(0);
  });
});
