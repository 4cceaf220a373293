// /api/swagger: the OpenAPI document (doc.json) and Swagger UI from the swagger-ui-dist package,
// served by drake itself: the page loads nothing from elsewhere (its Content-Security-Policy allows
// only this origin, and the online validator badge is off). Assets are read once, at start.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Reply, Route } from '../http.ts';

export const SWAGGER_BASE = '/api/swagger';

const require = createRequire(import.meta.url);
const distDir = dirname(require.resolve('swagger-ui-dist/package.json'));
const distVersion = (JSON.parse(readFileSync(join(distDir, 'package.json'), 'utf8')) as { version: string }).version;

/** Only this origin; Swagger UI sets inline styles and shows data: images. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

// Relative URLs: the page works at /api/swagger/ and /api/swagger/index.html, and behind a proxy
// that adds a path prefix. `?v=` makes a new swagger-ui-dist version bypass caches.
const INDEX = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>drake API</title>
<link rel="stylesheet" href="swagger-ui.css?v=${distVersion}">
<link rel="icon" type="image/png" href="favicon.png?v=${distVersion}">
<style>html { box-sizing: border-box; overflow-y: scroll; } *, *::before, *::after { box-sizing: inherit; } body { margin: 0; background: #fafafa; }</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js?v=${distVersion}"></script>
<script src="swagger-ui-standalone-preset.js?v=${distVersion}"></script>
<script src="swagger-initializer.js?v=${distVersion}"></script>
</body>
</html>
`;

const INITIALIZER = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: new URL('doc.json', window.location.href).href,
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
});
`;

/** A swagger-ui-dist file, without its source-map comment (the maps are not served). */
function asset(name: string): string {
  return readFileSync(join(distDir, name), 'utf8').replace(/\n?\/[*/]# sourceMappingURL=[^\n]*\s*$/, '\n');
}

function fixed(body: string | Buffer, contentType: string, cache: boolean): () => Reply {
  const headers: Record<string, string> = {
    'content-type': contentType,
    'cache-control': cache ? 'public, max-age=86400' : 'no-cache',
    'x-content-type-options': 'nosniff',
  };
  return () => ({ status: 200, headers, body });
}

/**
 * `getDoc` is called on the first request for doc.json (so it may list routes made after these)
 * and its JSON kept from then on.
 */
export function swaggerRoutes(getDoc: () => object): Route[] {
  let docJson: string | null = null;
  const page = fixed(INDEX, 'text/html; charset=utf-8', false);
  const html = (): Reply => {
    const reply = page();
    return { ...reply, headers: { ...reply.headers, 'content-security-policy': CSP } };
  };
  const files: Array<[name: string, body: string | Buffer, type: string]> = [
    ['swagger-ui.css', asset('swagger-ui.css'), 'text/css; charset=utf-8'],
    ['swagger-ui-bundle.js', asset('swagger-ui-bundle.js'), 'text/javascript; charset=utf-8'],
    ['swagger-ui-standalone-preset.js', asset('swagger-ui-standalone-preset.js'), 'text/javascript; charset=utf-8'],
    ['swagger-initializer.js', INITIALIZER, 'text/javascript; charset=utf-8'],
    ['favicon.png', readFileSync(join(distDir, 'favicon-32x32.png')), 'image/png'],
  ];
  return [
    {
      method: 'get',
      pattern: `${SWAGGER_BASE}/doc.json`,
      summary: 'This API as an OpenAPI 3.1 document',
      handler: () => {
        docJson ??= JSON.stringify(getDoc());
        return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'no-cache' }, body: docJson };
      },
    },
    {
      method: 'get',
      pattern: SWAGGER_BASE,
      summary: 'Redirect to Swagger UI (/api/swagger/)',
      handler: () => ({ status: 302, headers: { location: `${SWAGGER_BASE.split('/').pop()}/` } }),
    },
    { method: 'get', pattern: `${SWAGGER_BASE}/`, summary: 'Swagger UI for this API', handler: html },
    { method: 'get', pattern: `${SWAGGER_BASE}/index.html`, summary: 'Swagger UI for this API', handler: html },
    ...files.map(
      ([name, body, type]): Route => ({
        method: 'get',
        pattern: `${SWAGGER_BASE}/${name}`,
        summary: `Swagger UI file ${name} (swagger-ui-dist ${distVersion})`,
        handler: fixed(body, type, name !== 'swagger-initializer.js'),
      }),
    ),
  ];
}
