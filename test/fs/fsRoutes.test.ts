// The filesystem routes on a real uWS server (only these routes mounted): content types and cache
// headers, ranges, HEAD, conditional GET, Basic auth on memfs writes, DELETE, /api/v3/fs listings
// and file access, body limits, path escapes sent raw on a socket, and a real FFmpeg HLS push.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basicAuthHeader, MEMFS_REALM } from '../../src/gateway/routes/fsRoutes.ts';
import { waitFor } from '../helpers/drake.ts';
import { haveFfmpeg, hlsPushArgs, runFfmpeg, startFsServer, type FsServer } from '../helpers/fsServer.ts';

// src/gateway/http.ts ends HEAD replies with `res.endWithoutBody(undefined, closing)`; uWS turns the
// explicit `undefined` into `Content-Length: 9223372036854775808`, added to the one serveFile sets.
// Once http.ts passes the length (`endWithoutBody(Number(headers['content-length'] ?? 0), closing)`
// without writing the header itself), drop this.

const contentLengths = (head: string) => [...head.matchAll(/^content-length: *(\S+)$/gim)].map((m) => m[1]!);

const USER = 'admin';
const PASS = 's3cret-Pa55';
const AUTH = { authorization: basicAuthHeader(USER, PASS) };

/** One request written as-is on a socket (fetch would normalise `..` away), answered with Connection: close. */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to ${method} ${path}`));
    }, 5000);
    sock.on('data', (c) => {
      chunks.push(c);
      // A HEAD answer ends with its headers: do not wait for the server to close.
      if (method === 'HEAD' && Buffer.concat(chunks).includes('\r\n\r\n')) sock.destroy();
    });
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: split < 0 ? '' : text.slice(split + 4) });
    });
    const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    sock.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  });
}

describe('memfs over HTTP (writes open)', () => {
  let s: FsServer;
  before(async () => {
    s = await startFsServer();
  });
  after(() => s.close());

  test('content types by extension, cache headers, validators', async () => {
    const types: Record<string, string> = {
      'index.m3u8': 'application/vnd.apple.mpegurl',
      'seg_001.ts': 'video/mp2t',
      'chunk.m4s': 'video/mp4',
      'init.mp4': 'video/mp4',
      'live.mpd': 'application/dash+xml',
      'page.html': 'text/html; charset=utf-8',
      'app.js': 'text/javascript; charset=utf-8',
      'style.css': 'text/css; charset=utf-8',
      'data.json': 'application/json',
      'logo.png': 'image/png',
      'photo.JPG': 'image/jpeg',
      'notes.txt': 'text/plain; charset=utf-8',
      'blob.bin': 'application/octet-stream',
      'noext': 'application/octet-stream',
    };
    for (const name of Object.keys(types)) {
      // A Buffer body: fetch sends no Content-Type (a string body would be text/plain, which is kept for unknown extensions).
      const put = await fetch(`${s.url}/memfs/t/${name}`, { method: 'PUT', body: Buffer.from(`content of ${name}`) });
      assert.equal(put.status, 201, name);
    }
    for (const [name, type] of Object.entries(types)) {
      const res = await fetch(`${s.url}/memfs/t/${name}`);
      assert.equal(res.status, 200, name);
      assert.equal(res.headers.get('content-type'), type, name);
      assert.equal(await res.text(), `content of ${name}`);
      assert.equal(res.headers.get('accept-ranges'), 'bytes');
      assert.ok(res.headers.get('etag'), 'etag');
      assert.ok(Date.parse(res.headers.get('last-modified') ?? '') > 0, 'last-modified');
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
    }
    const cache = async (name: string) => (await fetch(`${s.url}/memfs/t/${name}`)).headers.get('cache-control');
    assert.equal(await cache('index.m3u8'), 'no-cache');
    assert.equal(await cache('live.mpd'), 'no-cache');
    assert.match((await cache('seg_001.ts')) ?? '', /^public, max-age=\d+$/);
    assert.match((await cache('chunk.m4s')) ?? '', /max-age=/);
  });

  test('a type sent with PUT is kept when the extension says nothing; a known extension wins', async () => {
    await fetch(`${s.url}/memfs/typed`, { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal((await fetch(`${s.url}/memfs/typed`)).headers.get('content-type'), 'application/json');
    await fetch(`${s.url}/memfs/x.m3u8`, { method: 'PUT', body: '#EXTM3U', headers: { 'content-type': 'text/plain' } });
    assert.equal((await fetch(`${s.url}/memfs/x.m3u8`)).headers.get('content-type'), 'application/vnd.apple.mpegurl');
  });

  test('ranges: 206 with Content-Range, suffix and open ranges, 416 when unsatisfiable, several ranges get 200', async () => {
    await fetch(`${s.url}/memfs/r/file.ts`, { method: 'PUT', body: '0123456789' });
    const get = (range: string) => fetch(`${s.url}/memfs/r/file.ts`, { headers: { range } });
    let res = await get('bytes=2-5');
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 2-5/10');
    assert.equal(res.headers.get('content-length'), '4');
    assert.equal(await res.text(), '2345');
    res = await get('bytes=-3');
    assert.equal(res.status, 206);
    assert.equal(await res.text(), '789');
    res = await get('bytes=7-');
    assert.equal(res.headers.get('content-range'), 'bytes 7-9/10');
    assert.equal(await res.text(), '789');
    res = await get('bytes=8-100');
    assert.equal(res.headers.get('content-range'), 'bytes 8-9/10');
    assert.equal(await res.text(), '89');
    res = await get('bytes=10-');
    assert.equal(res.status, 416);
    assert.equal(res.headers.get('content-range'), 'bytes */10');
    await res.arrayBuffer();
    res = await get('bytes=-0');
    assert.equal(res.status, 416);
    await res.arrayBuffer();
    res = await get('bytes=0-1,4-5');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '0123456789');
    res = await get('pages=1-2');
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    // If-Range with a stale validator: the whole file.
    res = await fetch(`${s.url}/memfs/r/file.ts`, { headers: { range: 'bytes=0-0', 'if-range': '"stale"' } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '0123456789');
  });

  test(
    'HEAD: the headers and exactly one Content-Length with the size, no body; 404 for a missing file',
    async () => {
      await fetch(`${s.url}/memfs/h/seg.ts`, { method: 'PUT', body: Buffer.alloc(1234, 0x47) });
      const res = await raw(s.port, 'HEAD', '/memfs/h/seg.ts');
      assert.equal(res.status, 200);
      assert.match(res.head, /^content-type: video\/mp2t$/im);
      assert.deepEqual(contentLengths(res.head), ['1234']);
      assert.equal(res.body, '');
      const ranged = await raw(s.port, 'HEAD', '/memfs/h/seg.ts', { range: 'bytes=0-99' });
      assert.equal(ranged.status, 206);
      assert.deepEqual(contentLengths(ranged.head), ['100']);
      assert.equal((await raw(s.port, 'HEAD', '/memfs/h/none.ts')).status, 404);
    },
  );

  test('HEAD answers with the status and the headers of GET', async () => {
    await fetch(`${s.url}/memfs/h/seg2.ts`, { method: 'PUT', body: Buffer.alloc(1234, 0x47) });
    const res = await raw(s.port, 'HEAD', '/memfs/h/seg2.ts');
    assert.equal(res.status, 200);
    assert.match(res.head, /^content-type: video\/mp2t$/im);
    assert.match(res.head, /^etag: "/im);
    assert.match(res.head, /^accept-ranges: bytes$/im);
    assert.ok(contentLengths(res.head).includes('1234'), res.head);
    assert.equal(res.body, '');
    assert.equal((await raw(s.port, 'HEAD', '/memfs/h/none.ts')).status, 404);
  });

  test('conditional GET: If-None-Match and If-Modified-Since give 304', async () => {
    await fetch(`${s.url}/memfs/c/index.m3u8`, { method: 'PUT', body: '#EXTM3U\n' });
    const first = await fetch(`${s.url}/memfs/c/index.m3u8`);
    const etag = first.headers.get('etag')!;
    await first.text();
    const again = await fetch(`${s.url}/memfs/c/index.m3u8`, { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    const since = await fetch(`${s.url}/memfs/c/index.m3u8`, { headers: { 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() } });
    assert.equal(since.status, 304);
    await fetch(`${s.url}/memfs/c/index.m3u8`, { method: 'PUT', body: '#EXTM3U\n#EXT-X-VERSION:3\n' });
    const changed = await fetch(`${s.url}/memfs/c/index.m3u8`, { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.get('etag'), etag);
    await changed.text();
  });

  test('missing files: 404 with Core\'s error body', async () => {
    const res = await fetch(`${s.url}/memfs/nothing/here.ts`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { code: 404, message: 'File not found', details: ['/nothing/here.ts'] });
  });
});

describe('memfs with Basic auth', () => {
  let s: FsServer;
  before(async () => {
    s = await startFsServer({ routes: { memfsAuth: { username: USER, password: PASS } } });
  });
  after(() => s.close());

  test('writes need the credentials: 401 with a Basic challenge, then 201 created and 204 replaced', async () => {
    const url = `${s.url}/memfs/live/a.ts`;
    let res = await fetch(url, { method: 'PUT', body: 'x' });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), `Basic realm="${MEMFS_REALM}"`);
    assert.equal(((await res.json()) as { code: number }).code, 401);
    res = await fetch(url, { method: 'PUT', body: 'x', headers: { authorization: basicAuthHeader(USER, 'wrong') } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    res = await fetch(url, { method: 'PUT', body: 'x', headers: { authorization: 'Bearer abc' } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    assert.equal(s.mem.get('/live/a.ts'), null, 'nothing was stored');

    res = await fetch(url, { method: 'PUT', body: 'first', headers: AUTH });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-location'), '/memfs/live/a.ts');
    assert.equal(await res.text(), '/live/a.ts');
    res = await fetch(url, { method: 'PUT', body: 'second', headers: AUTH });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('content-location'), '/memfs/live/a.ts');
    res = await fetch(`${s.url}/memfs/live/b.ts`, { method: 'POST', body: 'posted', headers: AUTH });
    assert.equal(res.status, 201);
    await res.arrayBuffer();

    // Reads stay public.
    res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'second');
  });

  test('DELETE needs the credentials: 200 "Deleted: <path>", then 404', async () => {
    await fetch(`${s.url}/memfs/d/x.ts`, { method: 'PUT', body: 'x', headers: AUTH });
    let res = await fetch(`${s.url}/memfs/d/x.ts`, { method: 'DELETE' });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    res = await fetch(`${s.url}/memfs/d/x.ts`, { method: 'DELETE', headers: AUTH });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Deleted: /d/x.ts');
    res = await fetch(`${s.url}/memfs/d/x.ts`, { method: 'DELETE', headers: AUTH });
    assert.equal(res.status, 404);
    await res.arrayBuffer();
    assert.equal((await fetch(`${s.url}/memfs/d/x.ts`)).status, 404);
  });

  test('/api/v3/fs: filesystems, listings with glob/sort/order, file access by name', async () => {
    let res = await fetch(`${s.url}/api/v3/fs`);
    assert.deepEqual(await res.json(), [
      { name: 'disk', type: 'disk', mount: '/data' },
      { name: 'mem', type: 'mem', mount: '/memfs' },
    ]);
    for (const [name, size] of [['/l/b.ts', 30], ['/l/a.ts', 10], ['/l/index.m3u8', 20], ['/m/c.ts', 5]] as const) {
      assert.equal((await fetch(`${s.url}/api/v3/fs/mem${name}`, { method: 'PUT', body: Buffer.alloc(size) })).status, 201, 'API writes need no Basic auth');
    }
    const list = async (q: string) => ((await (await fetch(`${s.url}/api/v3/fs/mem?${q}`)).json()) as Array<{ name: string; size_bytes: number; last_modified: number }>);
    const names = async (q: string) => (await list(q)).map((e) => e.name);
    const all = await list('glob=/l/**');
    assert.equal(all.length, 3);
    assert.ok(all.every((e) => Number.isInteger(e.last_modified) && e.size_bytes > 0));
    assert.deepEqual(await names('glob=/l/*.ts&sort=name&order=asc'), ['/l/a.ts', '/l/b.ts']);
    assert.deepEqual(await names('glob=/l/*.ts&sort=name&order=desc'), ['/l/b.ts', '/l/a.ts']);
    assert.deepEqual(await names('glob=/[lm]/*.ts&sort=size'), ['/m/c.ts', '/l/a.ts', '/l/b.ts']);
    assert.deepEqual(await names('glob=/l/*&sort=size&order=desc'), ['/l/b.ts', '/l/index.m3u8', '/l/a.ts']);
    assert.equal((await fetch(`${s.url}/api/v3/fs/mem?sort=weird`)).status, 400);
    assert.equal((await fetch(`${s.url}/api/v3/fs/s3`)).status, 404);

    res = await fetch(`${s.url}/api/v3/fs/mem/l/index.m3u8`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    await res.arrayBuffer();
    res = await fetch(`${s.url}/api/v3/fs/mem/l/index.m3u8`, { method: 'PUT', body: '#EXTM3U' });
    assert.equal(res.status, 204);
    res = await fetch(`${s.url}/api/v3/fs/mem/l/a.ts`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal(await res.json(), 'Deleted: /l/a.ts');
    assert.equal((await fetch(`${s.url}/api/v3/fs/mem/l/a.ts`)).status, 404);
    assert.equal((await fetch(`${s.url}/api/v3/fs/nope/x`)).status, 404);
  });
});

describe('disk filesystem over HTTP', () => {
  let s: FsServer;
  before(async () => {
    s = await startFsServer();
    writeFileSync(join(s.diskDir, 'index.html'), '<h1>root</h1>');
    mkdirSync(join(s.diskDir, 'sub'));
    writeFileSync(join(s.diskDir, 'sub', 'clip.mp4'), Buffer.alloc(100, 1));
    writeFileSync(join(s.diskDir, 'sub', 'index.html'), '<h1>sub</h1>');
    // Outside the disk filesystem: never served.
    writeFileSync(join(s.dir, 'secret.txt'), 'top secret');
    mkdirSync(join(s.dir, 'outside'));
    symlinkSync(join(s.dir, 'secret.txt'), join(s.diskDir, 'leak.txt'));
    symlinkSync(join(s.dir, 'outside'), join(s.diskDir, 'outdir'));
    symlinkSync(join(s.diskDir, 'sub', 'clip.mp4'), join(s.diskDir, 'alias.mp4'));
  });
  after(() => s.close());

  test('files under /data/*, index.html for directories, types and ranges', async () => {
    let res = await fetch(`${s.url}/data/sub/clip.mp4`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'video/mp4');
    assert.equal((await res.arrayBuffer()).byteLength, 100);
    res = await fetch(`${s.url}/data/sub/clip.mp4`, { headers: { range: 'bytes=90-' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 90-99/100');
    assert.equal((await res.arrayBuffer()).byteLength, 10);
    res = await fetch(`${s.url}/data/`);
    assert.equal(await res.text(), '<h1>root</h1>');
    res = await fetch(`${s.url}/data/sub`);
    assert.equal(await res.text(), '<h1>sub</h1>');
    res = await fetch(`${s.url}/data`, { redirect: 'manual' });
    assert.equal(res.status, 301);
    assert.equal(res.headers.get('location'), '/data/');
    res = await fetch(`${s.url}/data/alias.mp4`);
    assert.equal(res.status, 200, 'a symlink that stays inside is served');
    await res.arrayBuffer();
    assert.equal((await fetch(`${s.url}/data/sub/missing.txt`)).status, 404);
    assert.equal((await fetch(`${s.url}/data/sub/clip.mp4`, { method: 'PUT', body: 'x' })).status, 404, '/data is read-only');
  });

  test('listing and writes through /api/v3/fs/disk', async () => {
    let res = await fetch(`${s.url}/api/v3/fs/disk?sort=name`);
    const names = ((await res.json()) as Array<{ name: string }>).map((e) => e.name);
    assert.deepEqual(names, ['/index.html', '/sub/clip.mp4', '/sub/index.html'], 'symlinks are not listed');
    res = await fetch(`${s.url}/api/v3/fs/disk/new/dir/file.txt`, { method: 'PUT', body: 'hello' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-location'), '/data/new/dir/file.txt');
    assert.equal(readFileSync(join(s.diskDir, 'new/dir/file.txt'), 'utf8'), 'hello');
    res = await fetch(`${s.url}/api/v3/fs/disk/new/dir/file.txt`, { method: 'PUT', body: 'again' });
    assert.equal(res.status, 204);
    assert.equal(await (await fetch(`${s.url}/data/new/dir/file.txt`)).text(), 'again');
    res = await fetch(`${s.url}/api/v3/fs/disk/new/dir/file.txt`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal(existsSync(join(s.diskDir, 'new/dir/file.txt')), false);
    assert.equal((await fetch(`${s.url}/api/v3/fs/disk/new/dir/file.txt`, { method: 'DELETE' })).status, 404);
  });

  test('path escapes never leave the filesystem', async () => {
    const escapes = [
      '/data/../secret.txt',
      '/data/%2e%2e/secret.txt',
      '/data/%2E%2E/secret.txt',
      '/data/..%2fsecret.txt',
      '/data/sub/../../secret.txt',
      '/data/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/data/leak.txt',
      '/data/outdir/',
      '/api/v3/fs/disk/../secret.txt',
      '/api/v3/fs/disk/%2e%2e/secret.txt',
      '/api/v3/fs/disk/leak.txt',
      '/memfs/../secret.txt',
      '/memfs/%2e%2e/%2e%2e/etc/passwd',
      '/data/../../../../etc/passwd',
      '/data/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    ];
    for (const path of escapes) {
      const res = await raw(s.port, 'GET', path);
      assert.equal(res.status, 404, `${path} → ${res.status}`);
      assert.doesNotMatch(res.body, /top secret|root:/, path);
    }
    // Malformed percent-encoding and NUL bytes are bad requests.
    assert.equal((await raw(s.port, 'GET', '/data/%zz')).status, 400);
    assert.equal((await raw(s.port, 'GET', '/data/a%00b')).status, 400);

    // Writes: `..` is clamped at the root, a symlinked directory that leads out is refused.
    let res = await raw(s.port, 'PUT', '/api/v3/fs/disk/%2e%2e/escaped.txt', {}, 'data');
    assert.equal(res.status, 201);
    assert.equal(existsSync(join(s.dir, 'escaped.txt')), false);
    assert.equal(readFileSync(join(s.diskDir, 'escaped.txt'), 'utf8'), 'data');
    res = await raw(s.port, 'PUT', '/api/v3/fs/disk/outdir/x.txt', {}, 'data');
    assert.equal(res.status, 400);
    assert.equal(existsSync(join(s.dir, 'outside', 'x.txt')), false);
    res = await raw(s.port, 'DELETE', '/api/v3/fs/disk/../secret.txt');
    assert.equal(res.status, 404);
    res = await raw(s.port, 'DELETE', '/api/v3/fs/disk/leak.txt');
    assert.equal(res.status, 200, 'deleting a symlink removes the link');
    assert.equal(readFileSync(join(s.dir, 'secret.txt'), 'utf8'), 'top secret', 'never its target');

    // memfs: `..` stays inside memfs.
    res = await raw(s.port, 'PUT', '/memfs/../../etc/passwd', {}, 'not really');
    assert.equal(res.status, 201);
    assert.deepEqual(s.mem.list('/etc/*').map((e) => e.name), ['/etc/passwd']);
    res = await raw(s.port, 'PUT', '/memfs/%2e%2e/%2e%2e/x', {}, 'y');
    assert.equal(res.status, 201);
    assert.ok(s.mem.get('/x'));
  });
});

describe('limits', () => {
  let s: FsServer;
  before(async () => {
    s = await startFsServer({ routes: { maxWriteBytes: 1024 }, mem: { maxBytes: 1500 } });
  });
  after(() => s.close());

  test('413 for a body over the write limit, declared or chunked', async () => {
    let res = await fetch(`${s.url}/memfs/big.ts`, { method: 'PUT', body: Buffer.alloc(2000) });
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new Uint8Array(600));
        c.close();
      },
    });
    res = await fetch(`${s.url}/memfs/big2.ts`, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    assert.equal(s.mem.usage.files, 0);
  });

  test('chunked uploads under the limit are stored whole', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 3; i++) c.enqueue(new Uint8Array(300).fill(i + 1));
        c.close();
      },
    });
    const res = await fetch(`${s.url}/memfs/chunked.ts`, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 201);
    const stored = s.mem.get('/chunked.ts');
    assert.equal(stored?.size, 900);
    assert.deepEqual([stored!.data[0], stored!.data[300], stored!.data[899]], [1, 2, 3]);
  });

  test('a full memfs without purge answers 400 (as Core)', async () => {
    const res = await fetch(`${s.url}/memfs/more.ts`, { method: 'PUT', body: Buffer.alloc(1000) });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { message: string };
    assert.match(body.message, /full/);
  });
});

describe('FFmpeg pushes HLS with HTTP PUT', { skip: haveFfmpeg() ? false : 'no /usr/bin/ffmpeg' }, () => {
  let s: FsServer;
  before(async () => {
    s = await startFsServer({ routes: { memfsAuth: { username: USER, password: PASS } } });
  });
  after(() => s.close());

  test('playlist and segments appear with the right types; deleted segments disappear', { timeout: 30_000 }, async () => {
    // FFmpeg sends Basic credentials only after a 401 challenge, but uWS has already answered
    // "100 Continue" by then: the credentials must go up front (see the next test).
    const ff = runFfmpeg(hlsPushArgs(`http://${USER}:${PASS}@127.0.0.1:${s.port}/memfs/test/index.m3u8`, 4, ['-headers', `Authorization: ${basicAuthHeader(USER, PASS)}\r\n`]));
    try {
      const seen = new Set<string>();
      const playlist = await waitFor(
        'a playlist with a segment',
        async () => {
          for (const e of s.mem.list('/test/*.ts')) seen.add(e.name);
          const res = await fetch(`${s.url}/memfs/test/index.m3u8`);
          if (res.status !== 200) return null;
          assert.equal(res.headers.get('content-type'), 'application/vnd.apple.mpegurl');
          assert.equal(res.headers.get('cache-control'), 'no-cache');
          const text = await res.text();
          return /\.ts$/m.test(text) ? text : null;
        },
        10_000,
        50,
      );
      assert.match(playlist, /^#EXTM3U/);
      const first = /^(\S+\.ts)$/m.exec(playlist)![1]!;
      const seg = await fetch(`${s.url}/memfs/test/${first}`);
      assert.equal(seg.status, 200);
      assert.equal(seg.headers.get('content-type'), 'video/mp2t');
      const bytes = Buffer.from(await seg.arrayBuffer());
      assert.ok(bytes.length > 1000);
      assert.equal(bytes[0], 0x47, 'an MPEG-TS sync byte');

      // Track what exists while FFmpeg runs, then wait for it to finish.
      while ((await Promise.race([ff.done.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 100))])) === false) {
        for (const e of s.mem.list('/test/*.ts')) seen.add(e.name);
      }
      const { code, stderr } = await ff.done;
      assert.equal(code, 0, stderr);

      const final = await (await fetch(`${s.url}/memfs/test/index.m3u8`)).text();
      assert.match(final, /#EXT-X-ENDLIST/);
      const listed = [...final.matchAll(/^(\S+\.ts)$/gm)].map((m) => `/test/${m[1]}`);
      assert.equal(listed.length, 2, final);
      for (const name of listed) {
        const res = await fetch(`${s.url}/memfs${name}`);
        assert.equal(res.status, 200, name);
        assert.equal(res.headers.get('content-type'), 'video/mp2t');
        assert.equal(Buffer.from(await res.arrayBuffer())[0], 0x47);
      }
      assert.ok(seen.has('/test/index0.ts'), `index0.ts was written (${[...seen].join(', ')})`);
      const res = await fetch(`${s.url}/memfs/test/index0.ts`);
      assert.equal(res.status, 404, 'FFmpeg deleted the oldest segment with HTTP DELETE');
      await res.arrayBuffer();
      const stored = s.mem.list('/test/*.ts').map((e) => e.name);
      assert.ok(stored.length <= listed.length + 1, `delete_segments keeps at most one segment beyond the playlist: ${stored.join(', ')}`);
      for (const name of listed) assert.ok(stored.includes(name));
    } finally {
      ff.kill();
    }
  });

  test('with credentials only in the URL FFmpeg never authenticates: nothing is stored (uWS sends 100 Continue first)', { timeout: 20_000 }, async () => {
    const ff = runFfmpeg(hlsPushArgs(`http://${USER}:${PASS}@127.0.0.1:${s.port}/memfs/urlonly/index.m3u8`, 2));
    const { code } = await ff.done;
    assert.equal(code, 0, 'FFmpeg does not even notice: it ignores the status after the body');
    assert.deepEqual(s.mem.list('/urlonly/**'), []);
  });

  test('persistent connections (-http_persistent 1) work as well', { timeout: 20_000 }, async () => {
    const ff = runFfmpeg(
      hlsPushArgs(`http://127.0.0.1:${s.port}/memfs/keep/index.m3u8`, 3, ['-http_persistent', '1', '-headers', `Authorization: ${basicAuthHeader(USER, PASS)}\r\n`]),
    );
    const { code, stderr } = await ff.done;
    assert.equal(code, 0, stderr);
    const final = await (await fetch(`${s.url}/memfs/keep/index.m3u8`)).text();
    assert.match(final, /#EXT-X-ENDLIST/);
    const segments = [...final.matchAll(/^(\S+\.ts)$/gm)].map((m) => m[1]!);
    assert.ok(segments.length > 0, final);
    for (const name of segments) assert.ok(s.mem.get(`/keep/${name}`), name);
  });
});
