// Builds the SRT server addon at `npm install` (root package.json "install" script), offline, the same way
// as native/srtp (node-gyp with --nodedir of the running Node). It needs libsrt's headers and library:
// Debian's libsrt-gnutls-dev (the GnuTLS flavour FFmpeg links here; the OpenSSL one would bring a second
// OpenSSL next to Node's). Without them the build is skipped with a note: drake runs, and says that SRT is
// unavailable only when srt.enable is set. By hand: node native/srt/build.mjs
// DRAKE_SRT=native makes a missing library or a failed build fail the install instead.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const strict = process.env.DRAKE_SRT === 'native';

function skip(why) {
  // A stale addon from an earlier build must not outlive the library it was linked against.
  rmSync(path.join(dir, 'build'), { recursive: true, force: true });
  console.warn(`\ndrake srt: the SRT server addon is not built (${why}).\n` +
    'drake runs without it; srt.enable then stops with "SRT is unavailable". Install libsrt-gnutls-dev (Debian/Ubuntu) and run: node native/srt/build.mjs\n');
  process.exit(strict ? 1 : 0);
}

const pc = spawnSync('pkg-config', ['--exists', 'srt']);
if (pc.status !== 0 && !existsSync('/usr/include/srt/srt.h')) skip('no libsrt headers: pkg-config srt and /usr/include/srt/srt.h not found');

const prefix = path.resolve(process.execPath, '..', '..');
const args = ['rebuild', `--directory=${dir}`];
if (existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
const gyp = [
  process.env.npm_config_node_gyp,
  path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((p) => p && existsSync(p));
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) skip(r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`);
console.log(`drake srt: built ${path.join(dir, 'build', 'Release', 'srt_server.node')}`);
