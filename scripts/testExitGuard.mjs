// Preloaded into every test file's process by scripts/run-tests.mjs (instead of --test-force-exit, which loses
// verdicts in transit when files run in parallel: nodejs/node#64833). After the file's last test, a process
// that stays alive has something left open (a socket, a timer, a child's pipes): after a grace (5 s, so a
// drake still shutting down can finish) this prints what it has beyond what it started with (Node's active
// resources) so the leak can be found, then exits with the verdict the runner already set
// (process.exitCode), its output long since written.
import { after } from 'node:test';

const GRACE_MS = Number(process.env.DRAKE_TEST_EXIT_GRACE_MS ?? 5000);

// The process's own stdio pipes to the runner exist from the start: not a leak.
void process.stdout;
void process.stderr;
const atStart = process.getActiveResourcesInfo();

/** `now` minus `before`, as a multiset: "UDPWrap ×4, Timeout". */
function extra(now, before) {
  const left = new Map();
  for (const r of before) left.set(r, (left.get(r) ?? 0) + 1);
  const counts = new Map();
  for (const r of now) {
    if (left.get(r)) left.set(r, left.get(r) - 1);
    else counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return [...counts].map(([r, n]) => (n > 1 ? `${r} ×${n}` : r)).join(', ');
}

after(() => {
  setTimeout(() => {
    const open = extra(process.getActiveResourcesInfo(), atStart) || 'nothing new';
    process.stderr.write(`test-exit-guard: ${process.argv.at(-1)} still alive ${GRACE_MS / 1000} s after its last test (open: ${open}); exiting\n`);
    process.exit();
  }, GRACE_MS).unref();
});
