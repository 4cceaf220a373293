// Which routes take the API's access token when auth is on, in one place for the gateway and the
// OpenAPI document. As Core: /api/v3/* and the GraphQL API under /api/graph; the process widget is
// public (a page anyone may embed shows its viewer count).
const PUBLIC_UNDER_V3 = ['/api/v3/widget/'];

const isUnder = (pattern: string, prefix: string) => pattern === prefix || pattern.startsWith(`${prefix}/`);

export function needsApiToken(pattern: string): boolean {
  if (isUnder(pattern, '/api/graph')) return true;
  return isUnder(pattern, '/api/v3') && !PUBLIC_UNDER_V3.some((p) => pattern.startsWith(p));
}
