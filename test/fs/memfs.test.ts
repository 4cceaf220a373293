// MemFs unit tests: put/get/delete, listings with glob and sort, the size limit with and without
// purge, and path normalisation (no `..` ever leaves the root).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { globToRegExp, MAX_PATH_LENGTH, MemFs, normalizePath, parseOrder, parseSort } from '../../src/gateway/fs/MemFs.ts';
import { ValidationError } from '../../src/shared/errors.ts';

const buf = (n: number, fill = 1) => Buffer.alloc(n, fill);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MemFs basics', () => {
  test('put creates then replaces; get returns data, type, size, mtime and a changing ETag', () => {
    const fs = new MemFs();
    assert.equal(fs.put('/a/b.ts', Buffer.from('hello'), 'video/mp2t'), 'created');
    const first = fs.get('/a/b.ts');
    assert.ok(first);
    assert.equal(first.data.toString(), 'hello');
    assert.equal(first.contentType, 'video/mp2t');
    assert.equal(first.size, 5);
    assert.ok(first.lastModified instanceof Date);
    assert.equal(fs.put('/a/b.ts', Buffer.from('bye')), 'replaced');
    const second = fs.get('/a/b.ts');
    assert.equal(second?.data.toString(), 'bye');
    assert.equal(second?.contentType, null);
    assert.notEqual(second?.etag, first.etag);
    assert.deepEqual(fs.usage, { files: 1, bytes: 3, limit: 0 });
  });

  test('keeps its own copy of the data', () => {
    const fs = new MemFs();
    const data = Buffer.from('abc');
    fs.put('/x', data);
    data[0] = 0x7a;
    assert.equal(fs.get('/x')?.data.toString(), 'abc');
  });

  test('delete answers whether there was a file, and frees its bytes', () => {
    const fs = new MemFs();
    fs.put('/a', buf(10));
    fs.put('/b', buf(5));
    assert.equal(fs.delete('/a'), true);
    assert.equal(fs.delete('/a'), false);
    assert.equal(fs.get('/a'), null);
    assert.deepEqual(fs.usage, { files: 1, bytes: 5, limit: 0 });
  });

  test('a path must name a file', () => {
    const fs = new MemFs();
    assert.throws(() => fs.put('/', buf(1)), ValidationError);
    assert.throws(() => fs.put('/..', buf(1)), ValidationError);
  });

  test('deleteMatching removes what the glob matches', () => {
    const fs = new MemFs();
    for (const n of ['/p1_0.ts', '/p1_1.ts', '/p1.m3u8', '/p2_0.ts']) fs.put(n, buf(1));
    assert.deepEqual(fs.deleteMatching('/p1_*.ts').sort(), ['/p1_0.ts', '/p1_1.ts']);
    assert.deepEqual(fs.list().map((e) => e.name), ['/p1.m3u8', '/p2_0.ts']);
    assert.equal(fs.usage.bytes, 2);
  });
});

describe('MemFs listings', () => {
  test('rows have Core fields; glob filters; sort by name, size, lastmod; order', async () => {
    const fs = new MemFs();
    fs.put('/live/b.ts', buf(30));
    await sleep(15);
    fs.put('/live/a.ts', buf(10));
    await sleep(15);
    fs.put('/live/index.m3u8', buf(20));
    fs.put('/other/c.ts', buf(5));
    const all = fs.list();
    assert.deepEqual(all.map((e) => e.name), ['/live/b.ts', '/live/a.ts', '/live/index.m3u8', '/other/c.ts']);
    assert.deepEqual(Object.keys(all[0]!).sort(), ['last_modified', 'name', 'size_bytes']);
    assert.equal(all[0]!.size_bytes, 30);
    assert.ok(Number.isInteger(all[0]!.last_modified));
    assert.ok(Math.abs(all[0]!.last_modified - Date.now() / 1000) < 5, 'last_modified is in Unix seconds');

    assert.deepEqual(fs.list('/live/*.ts', 'name', 'asc').map((e) => e.name), ['/live/a.ts', '/live/b.ts']);
    assert.deepEqual(fs.list('/live/*.ts', 'name', 'desc').map((e) => e.name), ['/live/b.ts', '/live/a.ts']);
    assert.deepEqual(fs.list('**.ts', 'size', 'asc').map((e) => e.name), ['/other/c.ts', '/live/a.ts', '/live/b.ts']);
    assert.deepEqual(fs.list('/live/*', 'lastmod', 'desc').map((e) => e.name), ['/live/index.m3u8', '/live/a.ts', '/live/b.ts']);
    assert.deepEqual(fs.list('/live/*', 'none', 'desc').map((e) => e.name), ['/live/index.m3u8', '/live/a.ts', '/live/b.ts']);
    assert.deepEqual(fs.list('/*.ts'), [], '* does not cross a slash');
    assert.deepEqual(fs.list('/{live,other}/[bc].ts', 'name').map((e) => e.name), ['/live/b.ts', '/other/c.ts']);
    assert.deepEqual(fs.list('/live/?.ts', 'name').map((e) => e.name), ['/live/a.ts', '/live/b.ts']);
  });

  test('a replaced file moves to the end of the unsorted listing', () => {
    const fs = new MemFs();
    fs.put('/a', buf(1));
    fs.put('/b', buf(1));
    fs.put('/a', buf(2));
    assert.deepEqual(fs.list().map((e) => e.name), ['/b', '/a']);
  });

  test('glob syntax', () => {
    assert.ok(globToRegExp('/a/**').test('/a/b/c.ts'));
    assert.ok(!globToRegExp('/a/*').test('/a/b/c.ts'));
    assert.ok(globToRegExp('/a.b').test('/a.b'));
    assert.ok(!globToRegExp('/a.b').test('/axb'), 'a dot is literal');
    assert.ok(globToRegExp('/x[!0-9].ts').test('/xa.ts'));
    assert.ok(!globToRegExp('/x[!0-9].ts').test('/x1.ts'));
    assert.ok(globToRegExp('/(a)+$').test('/(a)+$'), 'regex characters are literal');
    assert.throws(() => globToRegExp('/{a,b'), ValidationError);
  });

  test('sort and order are validated', () => {
    assert.equal(parseSort(null), 'none');
    assert.equal(parseSort('lastmod'), 'lastmod');
    assert.equal(parseOrder(''), 'asc');
    assert.throws(() => parseSort('date'), ValidationError);
    assert.throws(() => parseOrder('up'), ValidationError);
  });
});

describe('MemFs limits', () => {
  test('without purge a write that does not fit throws (400) and changes nothing', () => {
    const fs = new MemFs({ maxBytes: 100 });
    fs.put('/a', buf(60));
    assert.throws(() => fs.put('/b', buf(50)), (err: unknown) => err instanceof ValidationError && /full/.test(err.message));
    assert.deepEqual(fs.usage, { files: 1, bytes: 60, limit: 100 });
    assert.equal(fs.get('/b'), null);
    // Replacing a file counts only the difference.
    assert.equal(fs.put('/a', buf(100)), 'replaced');
    assert.equal(fs.usage.bytes, 100);
  });

  test('a file larger than the whole filesystem is refused even with purge', () => {
    const fs = new MemFs({ maxBytes: 100, purge: true });
    fs.put('/a', buf(50));
    assert.throws(() => fs.put('/big', buf(101)), (err: unknown) => err instanceof ValidationError && /larger/.test(err.message));
    assert.ok(fs.get('/a'), 'nothing was purged for a write that can never fit');
  });

  test('with purge the oldest files go first, just enough to make room', () => {
    const fs = new MemFs({ maxBytes: 100, purge: true });
    fs.put('/1', buf(30));
    fs.put('/2', buf(30));
    fs.put('/3', buf(30));
    fs.put('/1', buf(30)); // rewritten: now the newest
    fs.put('/4', buf(40));
    // 90 used, 40 more need 30 freed: the oldest is /2.
    assert.deepEqual(fs.list().map((e) => e.name), ['/3', '/1', '/4']);
    assert.equal(fs.usage.bytes, 100);
    fs.put('/5', buf(50));
    // 50 more need 50 freed: /3 then /1 (oldest first); /4 stays.
    assert.deepEqual(fs.list().map((e) => e.name), ['/4', '/5']);
    assert.equal(fs.usage.bytes, 90);
  });

  test('with purge, growing a file purges others but never the file itself', () => {
    const fs = new MemFs({ maxBytes: 100, purge: true });
    fs.put('/old', buf(50));
    fs.put('/grow', buf(40));
    fs.put('/grow', buf(90));
    assert.deepEqual(fs.list().map((e) => e.name), ['/grow']);
    assert.equal(fs.usage.bytes, 90);
  });

  test('maxBytes must be 0 or positive', () => {
    assert.throws(() => new MemFs({ maxBytes: -1 }), ValidationError);
    assert.equal(new MemFs({ maxBytes: 0 }).maxBytes, 0);
  });
});

describe('MemFs paths', () => {
  test('normalisation: dots resolved, slashes folded, `..` clamped at the root', () => {
    assert.equal(normalizePath('a/b'), '/a/b');
    assert.equal(normalizePath('/a//b/'), '/a/b');
    assert.equal(normalizePath('/a/./b'), '/a/b');
    assert.equal(normalizePath('/a/../b'), '/b');
    assert.equal(normalizePath('/../../etc/passwd'), '/etc/passwd');
    assert.equal(normalizePath('/a/../../..'), '/');
    assert.equal(normalizePath(''), '/');
  });

  test('the same file under different spellings', () => {
    const fs = new MemFs();
    fs.put('/live/../x/./y.ts', buf(3));
    assert.ok(fs.get('/x/y.ts'));
    assert.ok(fs.get('x//y.ts'));
    assert.ok(fs.get('/../../x/y.ts'));
    assert.deepEqual(fs.list().map((e) => e.name), ['/x/y.ts']);
    assert.equal(fs.delete('/a/../x/y.ts'), true);
  });

  test('NUL bytes, backslashes and over-long paths are refused', () => {
    const fs = new MemFs();
    assert.throws(() => fs.put('/a\0b', buf(1)), ValidationError);
    assert.throws(() => fs.put('/a\\..\\b', buf(1)), ValidationError);
    assert.throws(() => fs.put(`/${'a'.repeat(MAX_PATH_LENGTH)}`, buf(1)), ValidationError);
    assert.equal(fs.put(`/${'a'.repeat(MAX_PATH_LENGTH - 1)}`, buf(1)), 'created');
  });
});
