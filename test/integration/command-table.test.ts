import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS, commandTableMarkdown, DEMO_DURATION } from '../../src/cli/commands.js';
import { CLI, ROOT } from '../helpers/proxy-process.js';
import { run } from '../helpers/run.js';

/** The usage lines a verb's --help prints: "Usage: X" and the "       scopegate …" lines under it. */
function usageLines(help: string): string[] {
  const lines = help.split('\n');
  const at = lines.findIndex((l) => l.startsWith('Usage: '));
  if (at < 0) return [];
  const out = [lines[at]!.slice('Usage: '.length).trim()];
  for (const l of lines.slice(at + 1)) {
    if (!/^ {7}scopegate /.test(l)) break;
    out.push(l.trim());
  }
  return out;
}

// issue 18, item 8: the README, the top-level help and each verb's help said different things
describe('one table of commands', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const verbs = [...new Set(COMMANDS.map((c) => c.verb))];

  it("the README's command table is the table (node scripts/command-table.mjs rewrites it)", () => {
    expect(readme).toContain(commandTableMarkdown());
  });

  it('every verb the CLI knows is in the table, and nothing else', async () => {
    const r = await run(process.execPath, [CLI, 'no-such-verb']);
    expect(r.code).toBe(2);
    const known = /the verbs are ([^.]+)\./.exec(r.stderr)?.[1]?.split(', ') ?? [];
    expect(known.length).toBeGreaterThan(0);
    expect([...known].sort()).toEqual([...verbs].sort());
  });

  it("the top-level help lists every command line of the table", async () => {
    const r = await run(process.execPath, [CLI, '--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.usage}\n`);
  });

  for (const verb of verbs) {
    it(`scopegate ${verb} --help shows exactly the table's usage lines`, async () => {
      const r = await run(process.execPath, [CLI, verb, '--help']);
      expect(r.code).toBe(0);
      expect(usageLines(r.stdout)).toEqual(COMMANDS.filter((c) => c.verb === verb).map((c) => c.usage));
    });
  }

  it('the demo takes the same time in the README, the top-level help and demo --help', async () => {
    expect(readme).toContain(`See it stopped, locally, in ${DEMO_DURATION}`);
    const top = await run(process.execPath, [CLI, '--help']);
    expect(top.stdout).toContain(DEMO_DURATION);
    const demo = await run(process.execPath, [CLI, 'demo', '--help']);
    expect(demo.stdout).toContain(DEMO_DURATION);
    for (const text of [readme, top.stdout, demo.stdout]) expect(text).not.toMatch(/(about|in) (five|5|a few) seconds|~5 seconds/);
  });
});
