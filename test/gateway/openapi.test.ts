// The OpenAPI document (src/gateway/openapi.ts) against a real drake's route list and an OpenAPI
// validator, and the Swagger UI routes (src/gateway/routes/swaggerRoutes.ts) on a small uWS app.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import uWS from 'uWebSockets.js';
import type { us_listen_socket } from 'uWebSockets.js';
import { buildOpenApi, type OpenApiDocument, type OpenApiMethod } from '../../src/gateway/openapi.ts';
import { mount, type Route } from '../../src/gateway/http.ts';
import { swaggerRoutes } from '../../src/gateway/routes/swaggerRoutes.ts';
import { processConfigSchema } from '../../src/shared/processConfig.ts';
import { chromiumPath, launchChromium } from '../helpers/chromium.ts';
import { startDrake, testProcess, type TestDrake } from '../helpers/drake.ts';

const INFO = { title: 'drake', version: '0.0.0-test' };
const METHOD: Record<string, OpenApiMethod> = { get: 'get', post: 'post', put: 'put', patch: 'patch', del: 'delete', options: 'options', head: 'head' };

/** The router's routes, with the Swagger routes added when the gateway does not mount them (yet). */
function withSwagger(routes: Route[]): Route[] {
  return routes.some((r) => r.pattern.startsWith('/api/swagger/')) ? routes : [...routes, ...swaggerRoutes(() => ({}))];
}

function operations(doc: OpenApiDocument): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
}

describe('OpenAPI document of a real drake', () => {
  let drake: TestDrake;
  let routes: Route[];
  let doc: OpenApiDocument;

  before(async () => {
    // Auth on, so that the login routes (mounted only then) are in the router too.
    drake = await startDrake({ api: { auth: { enable: true, username: 'admin', password: 'sesame', login_failure_delay_ms: 0 } } });
    routes = withSwagger(drake.gateway.routes);
    doc = buildOpenApi(routes, INFO);
  });
  after(() => drake.stop(true));

  test('(a) is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Record<string, unknown>);
    assert.equal(validator.version, '3.1');
    assert.deepEqual(result.errors, undefined, JSON.stringify(result.errors, null, 2));
    assert.equal(result.valid, true);
  });

  test('(b) every route is an operation and every operation is a route', () => {
    // Left out on purpose, and only these: `any` routes (OpenAPI has no "any method") and the bare
    // `/*` catch-alls (CORS preflight and 404 for unknown URLs), which are not operations of the API.
    const documented = routes.filter((r) => r.method !== 'any' && r.pattern !== '/*');
    const expected = documented.map((r) => {
      const path = r.pattern
        .split('/')
        .map((s, i, all) => (s.startsWith(':') ? `{${s.slice(1)}}` : s === '*' && i === all.length - 1 ? '{path}' : s))
        .join('/');
      return `${METHOD[r.method]!.toUpperCase()} ${path}`;
    });
    assert.ok(expected.length >= 40, `a real router has many routes, got ${expected.length}`);
    assert.deepEqual([...operations(doc)].sort(), [...new Set(expected)].sort());

    for (const r of documented) {
      const path = Object.keys(doc.paths).find((p) => p.replace(/\{([^}]+)\}/g, ':$1') === r.pattern);
      if (!path) continue; // wildcard routes: checked by the set comparison above
      const op = doc.paths[path]![METHOD[r.method]!]!;
      assert.equal(op.summary, r.summary, `${r.method} ${r.pattern}`);
      const names = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual(names, [...r.pattern.matchAll(/:([^/]+)/g)].map((m) => m[1]), `path parameters of ${r.pattern}`);
    }
    const ids = operations(doc).map((o) => {
      const [m, p] = o.split(' ');
      return doc.paths[p!]![m!.toLowerCase() as OpenApiMethod]!.operationId;
    });
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
  });

  test('security: bearer JWT on /api/v3, none on /ping, /api, /api/login, the widget; WHEP token optional', () => {
    assert.deepEqual(doc.paths['/api/v3/process']!.get!.security, [{ bearerAuth: [] }]);
    assert.deepEqual(doc.paths['/api/v3/whep/{id}']!.post!.security, [{ bearerAuth: [] }]);
    assert.deepEqual(doc.paths['/ping']!.get!.security, []);
    assert.deepEqual(doc.paths['/api']!.get!.security, []);
    assert.deepEqual(doc.paths['/api/login']!.post!.security, []);
    assert.deepEqual(doc.paths['/api/v3/widget/process/{id}']!.get!.security, [], "Core's widget is public");
    assert.deepEqual(doc.paths['/api/graph/query']!.post!.security, [{ bearerAuth: [] }], 'GraphQL takes the token, as Core');
    assert.deepEqual(doc.paths['/whep/{id}']!.post!.security, [{}, { whepToken: [] }]);
    assert.equal(doc.components.securitySchemes.bearerAuth!.scheme, 'bearer');
    assert.equal(doc.components.securitySchemes.bearerAuth!.bearerFormat, 'JWT');
  });

  test('WHEP: SDP in, 201 with Location and ETag out; PATCH takes trickle-ice-sdpfrag', () => {
    const post = doc.paths['/whep/{id}']!.post!;
    assert.ok(post.requestBody!.content['application/sdp']);
    const created = post.responses['201'] as { headers: Record<string, unknown>; content: Record<string, unknown> };
    assert.ok(created.content['application/sdp']);
    assert.ok(created.headers.Location && created.headers.ETag);
    assert.ok(doc.paths['/whep/{id}/{session}']!.patch!.requestBody!.content['application/trickle-ice-sdpfrag']);
  });

  test('(c) POST /api/v3/process: the request schema takes a valid config and requires input and output', async () => {
    const body = doc.paths['/api/v3/process']!.post!.requestBody!;
    const schema = body.content['application/json']!.schema as { $ref: string };
    const name = schema.$ref.replace('#/components/schemas/', '');
    const component = doc.components.schemas[name] as { required?: string[] };
    assert.ok(component.required?.includes('input'), 'input is required');
    assert.ok(component.required?.includes('output'), 'output is required');
    assert.ok(!component.required?.includes('autostart'), 'fields with defaults are optional in a request');

    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'https://drake.invalid/openapi.json', components: doc.components });
    const validate = ajv.compile({ $ref: `https://drake.invalid/openapi.json${schema.$ref}` });
    const config = testProcess('openapi-test');
    assert.equal(processConfigSchema.safeParse(config).success, true);
    assert.equal(validate(config), true, JSON.stringify(validate.errors));
    assert.equal(validate({ ...config, input: undefined }), false);
    assert.equal(validate({ ...config, output: [] }), false);
    assert.equal(validate({ ...config, input: [{ id: 'in' }] }), false, 'an input needs an address');

    // The reply schema (ProcessConfig, output side) describes what drake really answers.
    const res = await drake.api('POST', '/api/login', { username: 'admin', password: 'sesame' });
    const token = (res.body as { access_token: string }).access_token;
    const added = await drake.api('POST', '/api/v3/process', { ...config, autostart: false }, { authorization: `Bearer ${token}` });
    assert.equal(added.status, 200);
    const reply = ajv.compile({ $ref: 'https://drake.invalid/openapi.json#/components/schemas/ProcessConfig' });
    assert.equal(reply(added.body), true, JSON.stringify(reply.errors));
    const got = await drake.api('GET', '/api/v3/process/openapi-test', undefined, { authorization: `Bearer ${token}` });
    const processSchema = ajv.compile({ $ref: 'https://drake.invalid/openapi.json#/components/schemas/Process' });
    assert.equal(processSchema(got.body), true, JSON.stringify(processSchema.errors));
  });
});

describe('Swagger UI routes', () => {
  let listen: us_listen_socket | null = null;
  let base = '';
  let doc: OpenApiDocument;

  before(async () => {
    const app = uWS.App();
    // The document lists its own routes: getDoc runs on the first request, after they exist.
    const routes: Route[] = [];
    routes.push(...swaggerRoutes(() => (doc = buildOpenApi(routes, INFO))));
    for (const r of routes) mount(app, r, { maxBodyBytes: 1024 });
    const port = await new Promise<number>((resolve, reject) =>
      app.listen('127.0.0.1', 0, (socket) => {
        if (!socket) return reject(new Error('cannot listen'));
        listen = socket;
        resolve(uWS.us_socket_local_port(socket as unknown as uWS.us_socket));
      }),
    );
    base = `http://127.0.0.1:${port}`;
  });
  after(() => {
    if (listen) uWS.us_listen_socket_close(listen);
  });

  test('(d) GET /api/swagger/doc.json and /api/swagger/ answer 200 with the right content types', async () => {
    const res = await fetch(`${base}/api/swagger/doc.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as OpenApiDocument;
    assert.equal(body.openapi, '3.1.0');
    assert.ok(body.paths['/api/swagger/doc.json']?.get);
    assert.deepEqual(body, JSON.parse(JSON.stringify(doc)));

    for (const path of ['/api/swagger/', '/api/swagger/index.html']) {
      const page = await fetch(`${base}${path}`);
      assert.equal(page.status, 200, path);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      const html = await page.text();
      assert.match(html, /swagger-ui-bundle\.js/);
      assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'nothing is loaded from elsewhere');
    }
    for (const [file, type] of [
      ['swagger-ui.css', /^text\/css/],
      ['swagger-ui-bundle.js', /^text\/javascript/],
      ['swagger-ui-standalone-preset.js', /^text\/javascript/],
      ['swagger-initializer.js', /^text\/javascript/],
      ['favicon.png', /^image\/png/],
    ] as const) {
      const asset = await fetch(`${base}/api/swagger/${file}`);
      assert.equal(asset.status, 200, file);
      assert.match(asset.headers.get('content-type') ?? '', type, file);
      assert.ok((await asset.arrayBuffer()).byteLength > 100, file);
    }
    const redirect = await fetch(`${base}/api/swagger`, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(new URL(redirect.headers.get('location')!, `${base}/api/swagger`).pathname, '/api/swagger/');
  });

  test(
    'Swagger UI renders the document in Chromium without any request to another origin',
    { timeout: 30_000, skip: chromiumPath() ? false : 'Chromium not installed (apt-get install -y chromium, or set CHROMIUM_PATH)' },
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const requests: string[] = [];
        const problems: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        page.on('console', (m) => {
          if (m.type() === 'error') problems.push(m.text());
        });
        page.on('pageerror', (e) => problems.push(e.message));
        await page.goto(`${base}/api/swagger/`);
        await page.waitForSelector('.opblock-summary-path', { timeout: 20_000 });
        const paths = await page.$$eval('.opblock-summary-path', (els) => els.map((e) => e.textContent ?? ''));
        assert.ok(paths.some((p) => p.includes('/api/swagger/doc.json')), paths.join(', '));
        assert.deepEqual(
          requests.filter((u) => !u.startsWith(`${base}/`) && !u.startsWith('data:')),
          [],
          'every request stays on this origin',
        );
        assert.deepEqual(problems, [], 'no script errors or CSP violations');
      } finally {
        await browser.close();
      }
    },
  );
});
