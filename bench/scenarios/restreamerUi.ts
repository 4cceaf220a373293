// restreamer-ui: datarhei's Restreamer UI (a build of it: RESTREAMER_UI_DIR, default /tmp/rui-src/build)
// in Chromium against a fresh drake with API auth and its RTMP server: log in, wizard with the "RTMP
// server" source fed by an FFmpeg publisher, channel running, Disconnect, Delete. Each step's time and
// pass/fail; every API call the UI made goes to bench/results/, and with --record also to the fixture
// that test/api/restreamerUiReplay.test.ts replays. No build or no Chromium: skipped with a note.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumPath } from '../../test/helpers/chromium.ts';
import { NO_UI_NOTE, restreamerUiDir, runAgainstFreshDrake, toFixture, type Fixture, type UiRun } from '../../test/helpers/restreamerUi.ts';
import { table } from '../lib/report.ts';

export const FIXTURE = fileURLToPath(new URL('../../test/api/fixtures/restreamer-ui-calls.json', import.meta.url));
const MIRROR = '/work/.mirror/datarhei+restreamer-ui/repo';

export interface RestreamerUiResult {
  skipped: string | null;
  run: UiRun | null;
  fixture: Fixture | null;
  shotsDir: string;
}

/** The UI's version (its package.json next to the build) and the commit it was built from, when known. */
function uiVersion(dir: string): { version: string; commit: string } {
  let version = '';
  try {
    version = (JSON.parse(readFileSync(join(dirname(dir), 'package.json'), 'utf8')) as { version?: string }).version ?? '';
  } catch {
    // a build without its source tree
  }
  let commit = process.env.RESTREAMER_UI_COMMIT ?? '';
  if (!commit && existsSync(MIRROR)) {
    try {
      commit = execFileSync('git', ['--git-dir', MIRROR, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      // no git
    }
  }
  return { version, commit };
}

export async function runRestreamerUi(o: { record: boolean; shotsDir: string }, log: (s: string) => void): Promise<RestreamerUiResult> {
  const dir = restreamerUiDir();
  if (!dir) return { skipped: NO_UI_NOTE, run: null, fixture: null, shotsDir: o.shotsDir };
  if (!chromiumPath()) return { skipped: 'no Chromium (apt-get install -y chromium, or CHROMIUM_PATH)', run: null, fixture: null, shotsDir: o.shotsDir };
  log(`restreamer-ui: UI build ${dir}`);
  const run = await runAgainstFreshDrake(dir, { shotsDir: o.shotsDir, log: (s) => log(`restreamer-ui: ${s}`) });
  const fixture = toFixture(run, uiVersion(dir));
  if (o.record && run.steps.every((s) => s.ok)) {
    writeFileSync(FIXTURE, `${JSON.stringify(fixture, null, 1)}\n`);
    log(`restreamer-ui: fixture written to ${FIXTURE}`);
  } else if (o.record) log('restreamer-ui: a step failed: the fixture was not replaced');
  return { skipped: null, run, fixture, shotsDir: o.shotsDir };
}

export function restreamerUiTable(r: RestreamerUiResult): string {
  if (!r.run) return `skipped: ${r.skipped}`;
  const rows = r.run.steps.map((s) => [s.name, s.ok ? 'pass' : 'FAIL', s.ms, s.error ?? '']);
  const calls = r.run.calls.filter((c) => c.status !== 0);
  const bad = calls.filter((c) => c.status >= 400);
  return [
    table(['step', 'result', 'ms', 'error'], rows, ['l', 'l', 'r', 'l']),
    '',
    `Whole run (drake start, Chromium, flow, teardown): ${r.run.totalMs} ms. ${calls.length} HTTP calls to drake, ${bad.length} answered ≥ 400 ` +
      `(${[...new Set(bad.map((c) => `${c.method} ${c.path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<channel>')} → ${c.status}`))].join('; ') || 'none'}). ` +
      `Screenshots: ${r.shotsDir}. Browser console errors: ${r.run.consoleErrors.length}.`,
  ].join('\n');
}
