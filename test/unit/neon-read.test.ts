import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { neon } from '../../src/providers/neon/index.js';
import type { Inspection, Operation } from '../../src/inspect/operation.js';

/**
 * Reading a REST call as Neon's server will execute it: every spelling of one call is judged the
 * same, and what servers could read two ways is refused (never guessed).
 */
const BR = 'br-aged-salad-637688';
const PRJ = 'shiny-wind-028834';

async function read(method: string, url: string, body?: string | Buffer, contentType = 'application/json'): Promise<Inspection> {
  return neon.read({ method, url, contentType: body === undefined ? undefined : contentType, body: body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body) });
}
async function op(method: string, url: string, body?: string): Promise<Operation> {
  const r = await read(method, url, body);
  if (!r.ok) throw new Error(`unjudgeable: ${r.reason}`);
  expect(r.operations).toHaveLength(1);
  return r.operations[0]!;
}
async function refused(method: string, url: string, body?: string): Promise<string> {
  const r = await read(method, url, body);
  if (r.ok) throw new Error(`judged as ${r.operations[0]!.name} ${r.operations[0]!.class}`);
  return r.reason;
}
/** What a decision depends on: the operation, its class, its target and its arguments. */
const judged = (o: Operation): unknown => ({ name: o.name, class: o.class, effect: o.effect, target: o.target, args: o.args, reason: o.classReason });

describe('a Neon REST call, read as the server runs it', () => {
  it('matches method and path template to the catalogue entry, with its target', async () => {
    const o = await op('DELETE', `/api/v2/projects/${PRJ}/branches/${BR}`);
    expect(o).toMatchObject({ name: 'deleteProjectBranch', class: 'destructive-irreversible', effect: 'write', target: { type: 'branch', id: BR, with: { projectId: PRJ } } });
    expect((await op('GET', `/api/v2/projects/${PRJ}/branches`)).class).toBe('read');
    // a fixed segment beats a parameter: /branches/count is not branch "count"
    expect((await op('GET', `/api/v2/projects/${PRJ}/branches/count`)).name).toBe('countProjectBranches');
    expect((await op('GET', '/api/v2/projects/shared')).name).toBe('listSharedProjects');
  });
  it('a branch delete is irreversible with or without hard_delete, and hard_delete is in the judged arguments', async () => {
    const a = await op('DELETE', `/api/v2/projects/${PRJ}/branches/${BR}?hard_delete=true`);
    const b = await op('DELETE', `/api/v2/projects/${PRJ}/branches/${BR}?hard_delete=false`);
    expect(a.class).toBe('destructive-irreversible');
    expect(b.class).toBe('destructive-irreversible');
    expect(a.args['query']).toEqual({ hard_delete: 'true' });
  });
  it('a restore is irreversible unless the old state is preserved', async () => {
    const url = `/api/v2/projects/${PRJ}/branches/${BR}/restore`;
    expect((await op('POST', url, JSON.stringify({ source_branch_id: 'br-parent-1' }))).class).toBe('destructive-irreversible');
    const kept = await op('POST', url, JSON.stringify({ source_branch_id: BR, source_timestamp: '2026-12-02T12:00:00Z', preserve_under_name: 'main-before' }));
    expect(kept.class).toBe('destructive-recoverable');
    expect(kept.classReason).toMatch(/kept as branch "main-before"/);
    // Go's decoder matches keys case-insensitively: the preserved name counts however it is cased
    expect((await op('POST', url, '{"Source_Branch_Id":"br-x","PRESERVE_UNDER_NAME":"old"}')).class).toBe('destructive-recoverable');
    expect((await op('POST', url, '{"source_branch_id":"br-x","preserve_under_name":""}')).class).toBe('destructive-irreversible');
  });
  it('payloads raise classes: unprotecting or expiring a branch, finalizing a snapshot restore, deleting auth data', async () => {
    const up = `/api/v2/projects/${PRJ}/branches/${BR}`;
    expect((await op('PATCH', up, '{"branch":{"name":"x"}}')).class).toBe('modify');
    expect((await op('PATCH', up, '{"branch":{"protected":false}}')).class).toBe('credential');
    expect((await op('PATCH', up, '{"branch":{"expires_at":"2026-12-04T00:00:00Z"}}')).class).toBe('destructive-irreversible');
    expect((await op('POST', `/api/v2/projects/${PRJ}/snapshots/snap-1/restore`, '{}')).class).toBe('create');
    expect((await op('POST', `/api/v2/projects/${PRJ}/snapshots/snap-1/restore`, '{"finalize_restore":true}')).class).toBe('destructive-recoverable');
    expect((await op('DELETE', `/api/v2/projects/${PRJ}/branches/${BR}/auth`, '{"delete_data":true}')).class).toBe('destructive-irreversible');
    expect((await op('PATCH', `/api/v2/projects/${PRJ}`, '{"project":{"history_retention_seconds":3600}}')).class).toBe('destructive-irreversible');
  });
  it('credential changes: role password reset, API keys', async () => {
    expect((await op('POST', `/api/v2/projects/${PRJ}/branches/${BR}/roles/app/reset_password`)).class).toBe('credential');
    expect((await op('POST', '/api/v2/api_keys', '{"key_name":"x"}')).class).toBe('credential');
    expect((await op('DELETE', '/api/v2/api_keys/42')).class).toBe('credential');
  });
  it('HEAD is a read of the GET; OPTIONS is a read', async () => {
    const h = await op('HEAD', `/api/v2/projects/${PRJ}/branches/${BR}`);
    expect(h).toMatchObject({ name: 'getProjectBranch', class: 'read', effect: 'read' });
    expect((await op('OPTIONS', `/api/v2/projects/${PRJ}/branches/${BR}`)).class).toBe('read');
  });
  it('what matches no catalogue entry is unknown, reads included', async () => {
    for (const [m, u] of [['GET', '/api/v2/projects/x/secret_admin'], ['PUT', `/api/v2/projects/${PRJ}/branches/${BR}`], ['POST', '/api/v3/projects'], ['GET', '/'], ['DELETE', '/api/v2/projects']] as const) {
      const o = await op(m, u);
      expect(o.class, `${m} ${u}`).toBe('unknown');
    }
  });
  it('refuses what routers or decoders read differently', async () => {
    const b = `/api/v2/projects/${PRJ}/branches/${BR}`;
    expect(await refused('DELETE', `/api/v2/projects/${PRJ}//branches/${BR}`)).toMatch(/empty segment/);
    expect(await refused('DELETE', `${b}/`)).toMatch(/empty segment/);
    expect(await refused('DELETE', `/api/v2/projects/${PRJ}/x/../branches/${BR}`)).toMatch(/dot segment/);
    expect(await refused('DELETE', `/api/v2/projects/${PRJ}/%2e%2e/branches/${BR}`)).toMatch(/dot segment/);
    expect(await refused('DELETE', `/api/v2/projects/${PRJ}%2fbranches/${BR}`)).toMatch(/encoded "\/"/);
    expect(await refused('DELETE', `/api/v2/projects/${PRJ}/branches/br-%2561`)).toMatch(/twice/);
    expect(await refused('DELETE', `/api/v2/projects/${PRJ}/BRANCHES/${BR}`)).toMatch(/another case/);
    expect(await refused('DELETE', `/API/v2/projects/${PRJ}/branches/${BR}`)).toMatch(/another case/);
    expect(await refused('DELETE', `/api/v2/projects/${PRJ}/branches/BR-AGED`)).toMatch(/not a Neon id/);
    expect(await refused('DELETE', `${b}?hard_delete=false&hard_delete=true`)).toMatch(/more than once/);
    expect(await refused('DELETE', `${b}?Hard_Delete=true`)).toMatch(/another case/);
    expect(await refused('DELETE', `${b}?hard_delete[]=true`)).toMatch(/object or a list/);
    expect(await refused('GET', `${b}?_method=DELETE`)).toMatch(/another method/);
    expect(await refused('DELETE', `${b}?x=%ff`)).toMatch(/malformed/);
    expect(await refused('POST', `${b}/restore`, '{"preserve_under_name":"a","preserve_under_name":""}')).toMatch(/twice/);
    expect(await refused('POST', `${b}/restore`, '{"preserve_under_name":"a","Preserve_Under_Name":""}')).toMatch(/twice/);
    expect(await refused('POST', `${b}/restore`, '{"preserve_under_name":"a","preserve\\u005funder_name":""}')).toMatch(/twice/);
    expect(await refused('POST', `${b}/restore`, '{"preſerve_under_name":"a"}')).toMatch(/non-ASCII/);
    expect(await refused('POST', `${b}/restore`, '{"a":1} {"b":2}')).toMatch(/not one JSON value/);
    expect(await refused('POST', `${b}/restore`, '\ufeff{"a":1}')).toMatch(/byte-order mark/);
    const r = await read('POST', `${b}/restore`, '{"a":1}', 'application/json; charset=shift_jis');
    expect(r.ok).toBe(false);
    const form = await read('POST', `${b}/restore`, 'source_branch_id=x', 'application/x-www-form-urlencoded');
    expect(form.ok).toBe(false);
  });
});

/** Spellings of one path segment that every server decodes to the same text. */
function segmentSpellings(seg: string): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom<'plain' | 'upper' | 'lower'>('plain', 'upper', 'lower'), { minLength: seg.length, maxLength: seg.length }).map((how) =>
    [...seg].map((ch, i) => (how[i] === 'plain' ? ch : `%${ch.charCodeAt(0).toString(16).padStart(2, '0')[how[i] === 'upper' ? 'toUpperCase' : 'toLowerCase']()}`)).join(''),
  );
}

/** A JSON object written with its keys in any order, any whitespace, and characters \u-escaped at random. */
function jsonSpellings(value: Record<string, string>): fc.Arbitrary<string> {
  const keys = Object.keys(value);
  const esc = (s: string, mask: boolean[]): string => `"${[...s].map((c, i) => (mask[i % mask.length] ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join('')}"`;
  return fc.tuple(fc.shuffledSubarray(keys, { minLength: keys.length, maxLength: keys.length }), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), fc.constantFrom('', ' ', '\n', '\t ')).map(([order, mask, ws]) => `{${ws}${order.map((k) => `${esc(k, mask)}${ws}:${ws}${esc(value[k]!, mask)}`).join(`,${ws}`)}${ws}}`);
}

describe('every spelling of the same call is judged the same (property)', () => {
  it('percent-encoded path segments and query keys in any order', async () => {
    const canonical = judged(await op('DELETE', `/api/v2/projects/${PRJ}/branches/${BR}?hard_delete=true&x=1`));
    await fc.assert(
      fc.asyncProperty(segmentSpellings('projects'), segmentSpellings(PRJ), segmentSpellings(BR), fc.boolean(), fc.constantFrom('true', 'true'), async (p, prj, br, swap, v) => {
        const q = swap ? `x=1&hard_delete=${v}` : `hard_%64elete=${v}&x=%31`;
        const o = await op('DELETE', `/api/v2/${p}/${prj}/branches/${br}?${q}`);
        expect(judged(o)).toEqual(canonical);
      }),
      { numRuns: 150 },
    );
  });
  it('a JSON body however its keys are ordered, spaced, escaped or cased', async () => {
    const url = `/api/v2/projects/${PRJ}/branches/${BR}/restore`;
    const value = { source_branch_id: BR, source_timestamp: '2026-12-02T12:00:00Z', preserve_under_name: 'main-before' };
    const canonical = judged(await op('POST', url, JSON.stringify(value)));
    await fc.assert(
      fc.asyncProperty(jsonSpellings(value), fc.boolean(), async (text, upper) => {
        const spelled = upper ? text.replace(/"(source_branch_id|preserve_under_name)"/g, (m) => m.toUpperCase()) : text;
        expect(judged(await op('POST', url, spelled))).toEqual(canonical);
      }),
      { numRuns: 150 },
    );
  });
  it('a body without its preserved name is irreversible however it is spelled', async () => {
    const url = `/api/v2/projects/${PRJ}/branches/${BR}/restore`;
    await fc.assert(
      fc.asyncProperty(jsonSpellings({ source_branch_id: 'br-parent-1', source_lsn: '0/1A2B3C' }), async (text) => {
        expect((await op('POST', url, text)).class).toBe('destructive-irreversible');
      }),
      { numRuns: 100 },
    );
  });
  it('no spelling of a path turns a judged call into another operation: either the same call or refused', async () => {
    const canonical = judged(await op('DELETE', `/api/v2/projects/${PRJ}/branches/${BR}`));
    const noise = fc.constantFrom('', '/', '//', '/./', '/../', '%2f', '%2F', '%2e', '%252f', 'X', '%00', ';', '#');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 5 }), noise, async (at, n) => {
        const parts = ['', 'api', 'v2', 'projects', PRJ, 'branches', BR];
        const url = parts.slice(0, at + 1).join('/') + n + '/' + parts.slice(at + 1).join('/');
        const r = await read('DELETE', url.replace(/\/\/+$/, '/'));
        if (!r.ok) return;
        const o = r.operations[0]!;
        // judged: then as this very call, or as something unknown (held), never as a milder known operation
        if (o.class !== 'unknown') expect(judged(o)).toEqual(canonical);
      }),
      { numRuns: 200 },
    );
  });
  it('content-encoded bodies are judged as their decoded bytes (the gate decodes before reading)', async () => {
    // the gate undoes Content-Encoding (src/inspect/body.ts) before the adapter reads; gzip here stands for that contract
    const body = JSON.stringify({ source_branch_id: 'br-p' });
    expect(gzipSync(body).equals(Buffer.from(body))).toBe(false);
    expect((await op('POST', `/api/v2/projects/${PRJ}/branches/${BR}/restore`, body)).class).toBe('destructive-irreversible');
  });
});
