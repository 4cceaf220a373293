// What `GET /api` says about the running code: the datarhei Core API level drake follows, drake's own
// version, and the git commit/branch/date of the checkout it runs from. drake runs from its sources
// (tsx), so "build time" is start time: git is asked once, locally, and anything it cannot answer
// (no git, not a checkout, a checkout of something else) is left empty.
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The datarhei Core release whose API (routes, JSON shapes) drake implements: Restreamer UI checks it with semver. */
export const CORE_API_VERSION = '16.16.0';
/** What Core answers without a token (`app.Version.MajorString()`). */
export const CORE_API_MAJOR = `${CORE_API_VERSION.split('.')[0]}.0.0`;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const DRAKE_VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface BuildInfo {
  repository_commit: string;
  repository_branch: string;
  /** RFC 3339 time of that commit. */
  build_date: string;
}

function git(args: string[]): string {
  return execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' } }).trim();
}

const same = (a: string, b: string): boolean => {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
};

/** Reads the checkout drake runs from; `run` is injectable so the "no git" path is testable. */
export function readBuildInfo(run: (args: string[]) => string = git): BuildInfo {
  const empty = { repository_commit: '', repository_branch: '', build_date: '' };
  try {
    const [top, branch] = run(['rev-parse', '--show-toplevel', '--abbrev-ref', 'HEAD']).split('\n');
    // drake unpacked inside some other repository must not report that repository's commit.
    if (!top || !same(top, ROOT)) return empty;
    const [commit, date] = run(['log', '-1', '--format=%H%n%cI']).split('\n');
    return {
      repository_commit: /^[0-9a-f]{40,64}$/.test(commit ?? '') ? commit! : '',
      // A detached HEAD has no branch.
      repository_branch: branch && branch !== 'HEAD' ? branch : '',
      build_date: date ?? '',
    };
  } catch {
    return empty;
  }
}

let cached: BuildInfo | null = null;
export function buildInfo(): BuildInfo {
  cached ??= readBuildInfo();
  return cached;
}
