// `npm test`: Node 20's test runner does not discover .ts files, so this lists test/**/*.test.ts,
// runs them with the tsx loader (and scripts/testExitGuard.mjs in each file's process), and fails when no
// test ran at all.
// Usage: npm test [-- <substring filter on file paths>...]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? find(join(dir, d.name)) : d.name.endsWith('.test.ts') ? [join(dir, d.name)] : [],
  );
}
const filters = process.argv.slice(2);
const files = find(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Not --test-force-exit: with files in parallel it loses verdicts on the way to this process (nodejs/node#64833);
// testExitGuard.mjs ends a file's process that its tests left something open in, once its output is out.
const args = ['--import', 'tsx', '--import', './scripts/testExitGuard.mjs', '--test', '--test-reporter=spec', `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, ...files];
const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (c) => {
  process.stdout.write(c);
  out += c.toString();
  if (out.length > 1e6) out = out.slice(-1e5);
});
child.on('close', (code) => {
  const tests = Number(/ℹ tests (\d+)/.exec(out)?.[1] ?? 0);
  const pass = Number(/ℹ pass (\d+)/.exec(out)?.[1] ?? 0);
  const fail = Number(/ℹ fail (\d+)/.exec(out)?.[1] ?? 0);
  const skipped = Number(/ℹ skipped (\d+)/.exec(out)?.[1] ?? 0);
  console.log(`\n${pass} passed, ${fail} failed, ${skipped} skipped`);
  if (tests === 0) {
    console.error('no test ran: failing');
    process.exit(1);
  }
  process.exit(code ?? 1);
});
