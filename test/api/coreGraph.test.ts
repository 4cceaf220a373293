// POST /api/graph/query: Core's GraphQL API (datarhei/core http/graph) against a real drake with API
// auth on: the `about` and `playoutStatus` queries as Core's schema defines them, and the statuses
// Core's gqlgen server gives to requests that cannot run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CORE_API_VERSION } from '../../src/shared/buildInfo.ts';
import { startDrakeWithLogin, testProcess, type TestDrake } from '../helpers/drake.ts';

interface GraphError {
  message: string;
  path?: Array<string | number>;
  locations?: Array<{ line: number; column: number }>;
  extensions?: { code?: string };
}
interface GraphReply<T = Record<string, unknown>> {
  data: T | null;
  errors?: GraphError[];
}

const ABOUT = `query {
  about { app id name created_at uptime_seconds version { number repository_commit repository_branch build_date arch compiler } }
}`;
const PLAYOUT = `query Playout($id: ID!, $input: ID!) {
  playoutStatus(id: $id, input: $input) {
    id url stream queue aqueue dup drop enc looping duplicating gop debug
    input { state packet time size_kb } output { state packet time size_kb }
    swap { url status lasturl lasterror }
  }
}`;

describe("Core's GraphQL API: /api/graph/query", () => {
  let drake: TestDrake;
  let auth: Record<string, string>;
  const graph = <T = Record<string, unknown>>(body: unknown, headers: Record<string, string> = {}) =>
    drake.api<GraphReply<T>>('POST', '/api/graph/query', body, { ...auth, ...headers });

  before(async () => {
    ({ drake, auth } = await startDrakeWithLogin());
    assert.equal((await drake.api('POST', '/api/v3/process', testProcess('cam', { autostart: false }), auth)).status, 200);
  });
  after(() => drake.stop(true));

  test('needs the API token, as /api/v3', async () => {
    const res = await drake.api('POST', '/api/graph/query', { query: '{ ping }' });
    assert.equal(res.status, 401);
    assert.equal((res.body as { code: number }).code, 401);
  });

  test('about: what GET /api says, in Core\'s schema', async () => {
    const res = await graph<{ about: Record<string, unknown> & { version: Record<string, string>; created_at: string; uptime_seconds: number } }>({ query: ABOUT });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.errors, undefined);
    const a = res.body.data!.about;
    const rest = await drake.api<{ id: string; name: string; created_at: string; version: Record<string, string> }>('GET', '/api', undefined, auth);
    assert.equal(a.app, 'datarhei-core');
    assert.equal(a.id, rest.body.id);
    assert.equal(a.name, rest.body.name);
    assert.equal(a.created_at, rest.body.created_at);
    assert.ok(Number.isInteger(a.uptime_seconds) && a.uptime_seconds >= 0);
    assert.equal(a.version.number, CORE_API_VERSION);
    for (const k of ['repository_commit', 'repository_branch', 'build_date', 'arch', 'compiler']) assert.equal(a.version[k], rest.body.version[k], k);
    assert.deepEqual(Object.keys(a.version).sort(), ['arch', 'build_date', 'compiler', 'number', 'repository_branch', 'repository_commit']);
  });

  test('ping as query and as mutation', async () => {
    assert.deepEqual((await graph({ query: '{ ping }' })).body, { data: { ping: 'pong' } });
    assert.deepEqual((await graph({ query: 'mutation { ping }' })).body, { data: { ping: 'pong' } });
  });

  test("playoutStatus: drake's inputs have no playout: null with Core's error, 200", async () => {
    const res = await graph({ query: PLAYOUT, variables: { id: 'cam', input: 'in' }, operationName: 'Playout' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data, { playoutStatus: null });
    assert.equal(res.body.errors?.length, 1);
    assert.equal(res.body.errors![0]!.message, "unknown process or input: no playout for input ID 'in' and process 'cam'");
    assert.deepEqual(res.body.errors![0]!.path, ['playoutStatus']);

    const unknown = await graph({ query: PLAYOUT, variables: { id: 'nosuch', input: 'in' } });
    assert.equal(unknown.status, 200);
    assert.deepEqual(unknown.body.data, { playoutStatus: null });
    assert.equal(unknown.body.errors![0]!.message, 'unknown process or input: unknown process');
  });

  test('queries that cannot run: 422 with the parse or validation code; bodies that are not requests: 400, 413, 415', async () => {
    const syntax = await graph({ query: '{ about { app ' });
    assert.equal(syntax.status, 422);
    assert.equal(syntax.body.data, null);
    assert.equal(syntax.body.errors![0]!.extensions?.code, 'GRAPHQL_PARSE_FAILED');
    assert.match(syntax.body.errors![0]!.message, /Syntax Error/);
    assert.ok(syntax.body.errors![0]!.locations?.length);

    const field = await graph({ query: '{ processes { id } }' });
    assert.equal(field.status, 422);
    assert.equal(field.body.errors![0]!.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(field.body.errors![0]!.message, /Cannot query field "processes" on type "Query"/);

    const noArgs = await graph({ query: '{ playoutStatus { id } }' });
    assert.equal(noArgs.status, 422);
    assert.ok(noArgs.body.errors!.some((e) => /argument "id" of type "ID!" is required/.test(e.message)), JSON.stringify(noArgs.body));

    const badVar = await graph({ query: PLAYOUT, variables: { id: { nested: true }, input: 'in' } });
    assert.equal(badVar.status, 422);
    assert.match(badVar.body.errors![0]!.message, /\$id/);

    const badOp = await graph({ query: PLAYOUT, variables: { id: 'cam', input: 'in' }, operationName: 'Other' });
    assert.equal(badOp.status, 422);
    assert.match(badOp.body.errors![0]!.message, /Unknown operation named "Other"/);

    const tokens = await graph({ query: `{ ${Array.from({ length: 3000 }, (_, i) => `a${i}: ping`).join(' ')} }` });
    assert.equal(tokens.status, 422);
    assert.match(tokens.body.errors![0]!.message, /more that 5000 tokens/, "graphql-js's own words (sic)");

    const notJson = await graph('{ ping', {});
    assert.equal(notJson.status, 400);
    assert.match(notJson.body.errors![0]!.message, /json request body could not be decoded/);
    assert.equal(notJson.body.data, null);

    const noQuery = await graph({ variables: {} });
    assert.equal(noQuery.status, 400);
    assert.match(noQuery.body.errors![0]!.message, /query/);

    const text = await graph('{"query":"{ ping }"}', { 'content-type': 'text/plain' });
    assert.equal(text.status, 415);
    assert.match(text.body.errors![0]!.message, /application\/json/);

    const big = await graph({ query: `{ ping } # ${'x'.repeat(70 * 1024)}` });
    assert.equal(big.status, 413);
  });

  test('introspection shows the schema a Core client expects', async () => {
    const res = await graph<{ __schema: { queryType: { fields: Array<{ name: string }> }; types: Array<{ name: string }> } }>({
      query: '{ __schema { queryType { fields { name } } types { name } } }',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.data!.__schema.queryType.fields.map((f) => f.name).sort(), ['about', 'ping', 'playoutStatus']);
    const types = new Set(res.body.data!.__schema.types.map((t) => t.name));
    for (const t of ['About', 'AboutVersion', 'RawAVstream', 'RawAVstreamIO', 'RawAVstreamSwap', 'State', 'Uint64', 'Time', 'Any']) assert.ok(types.has(t), t);
  });
});
