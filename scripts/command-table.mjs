#!/usr/bin/env node
// Rewrites the README's command table from src/cli/commands.ts (through dist/: run npm run build
// first). test/integration/command-table.test.ts fails while the two differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { commandTableMarkdown } = await import(join(root, 'dist', 'cli', 'commands.js'));
const readme = join(root, 'README.md');
const text = readFileSync(readme, 'utf8');
const start = text.indexOf('| command | what it does |');
const end = text.indexOf('\n\n', start);
if (start < 0 || end < 0) {
  process.stderr.write('README.md has no "| command | what it does |" table to rewrite\n');
  process.exit(1);
}
writeFileSync(readme, `${text.slice(0, start)}${commandTableMarkdown()}${text.slice(end)}`);
process.stdout.write('README.md: command table rewritten from src/cli/commands.ts\n');
