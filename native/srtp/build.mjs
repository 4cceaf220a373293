// Builds the SRTP addon at `npm install` (root package.json "install" script), offline:
//   node-gyp rebuild --directory=native/srtp --nodedir=<prefix of the running node>
// A plain `node-gyp rebuild` downloads Node's header tarball and fails without network; the running Node's
// own install prefix has them (include/node/, with openssl/, common.gypi and config.gypi). node-gyp itself
// comes with npm (npm_config_node_gyp inside npm scripts; not on PATH outside them). By hand:
//   node native/srtp/build.mjs
//
// A failed build does not fail `npm install`: drake then runs the pure-JS SRTP fallback and reports
// `srtp backend: js` at start. Set DRAKE_SRTP=native to make a failed build fail the install instead.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const prefix = path.resolve(process.execPath, '..', '..');
const args = ['rebuild', `--directory=${dir}`];
if (existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
else console.warn(`drake srtp: no Node headers under ${prefix}/include/node; node-gyp will try its header cache or a download`);

// Inside npm scripts npm says where its node-gyp is; run by hand, look for the one bundled with npm.
const gyp = [
  process.env.npm_config_node_gyp,
  path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].find((p) => p && existsSync(p));
const r = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: process.platform === 'win32' });

if (r.status === 0) {
  console.log(`drake srtp: built ${path.join(dir, 'build', 'Release', 'srtp.node')}`);
} else {
  const why = r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`;
  console.warn(`\ndrake srtp: WARNING native SRTP addon not built (${why}).\n` +
    'drake will use the pure-JS SRTP fallback (several times slower per packet). Needs make, a C compiler and python3.\n');
  process.exit(process.env.DRAKE_SRTP === 'native' ? 1 : 0);
}
