// POST /api/graph/query: Core's GraphQL endpoint (graphql-js), token-guarded like /api/v3. Answers as
// Core's gqlgen server does: 200 with `data` (and `errors` of fields that failed), 422 with
// GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED when the query cannot run, 400 for a body that is
// not a GraphQL request. Errors always have GraphQL's shape {errors: [{message, …}], data: null}.
import { GraphQLError, execute, parse, validate, type DocumentNode, type ExecutionResult } from 'graphql';
import { z } from 'zod';
import type { ClusterNode } from '../../actors/cluster/ClusterNode.ts';
import type { Supervisor } from '../../actors/supervisor/Supervisor.ts';
import { json, type Reply, type Route } from '../http.ts';
import { graphSchema, type About, type GraphContext } from '../graph/schema.ts';
import { noPlayoutReason } from '../playout.ts';

/** A query for Core's schema is a few hundred bytes; 64 KiB leaves room for any real one. */
export const GRAPH_MAX_BODY_BYTES = 64 * 1024;
/** Parsing stops past this many tokens (aliases repeated a thousand times are not a query a client needs). */
export const GRAPH_MAX_TOKENS = 5000;

const requestSchema = z.object({
  query: z.string({ error: 'query: a string is required' }).min(1, 'query: no operation provided'),
  operationName: z.string().nullish(),
  variables: z.record(z.string(), z.unknown()).nullish(),
  extensions: z.unknown().optional(),
});

type ErrorJson = { message: string } & Record<string, unknown>;

function failed(status: number, errors: ErrorJson[]): Reply {
  return json(status, { errors, data: null });
}

function requestErrors(errors: readonly GraphQLError[], code: 'GRAPHQL_PARSE_FAILED' | 'GRAPHQL_VALIDATION_FAILED'): ErrorJson[] {
  return errors.map((e) => ({ ...e.toJSON(), extensions: { ...e.extensions, code } }));
}

export function graphRoutes(sup: Supervisor, about: () => About, cluster: () => ClusterNode | null): Route[] {
  const context: GraphContext = {
    about,
    async playoutStatus(id, input) {
      // Core's resolver wraps the reason so.
      throw new Error(`unknown process or input: ${await noPlayoutReason(sup, cluster, id, input)}`);
    },
  };
  return [
    {
      method: 'post',
      pattern: '/api/graph/query',
      body: true,
      maxBodyBytes: GRAPH_MAX_BODY_BYTES,
      summary: "Core's GraphQL API (POST {query, operationName?, variables?}): ping, about, playoutStatus",
      handler: async (req) => {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json') return failed(415, [{ message: `Content-Type must be application/json, got "${type || '(none)'}"` }]);
        let body: unknown;
        try {
          body = JSON.parse(req.body.toString('utf8'));
        } catch (err) {
          return failed(400, [{ message: `json request body could not be decoded: ${(err as Error).message}` }]);
        }
        const parsed = requestSchema.safeParse(body);
        if (!parsed.success) {
          return failed(400, parsed.error.issues.map((i) => ({ message: i.path.length && !i.message.startsWith(`${i.path.join('.')}:`) ? `${i.path.join('.')}: ${i.message}` : i.message })));
        }
        const { query, operationName, variables } = parsed.data;
        let document: DocumentNode;
        try {
          document = parse(query, { maxTokens: GRAPH_MAX_TOKENS });
        } catch (err) {
          if (err instanceof GraphQLError) return failed(422, requestErrors([err], 'GRAPHQL_PARSE_FAILED'));
          throw err;
        }
        const invalid = validate(graphSchema, document);
        if (invalid.length) return failed(422, requestErrors(invalid, 'GRAPHQL_VALIDATION_FAILED'));
        const result: ExecutionResult = await execute({
          schema: graphSchema,
          document,
          contextValue: context,
          variableValues: variables ?? undefined,
          operationName: operationName ?? undefined,
        });
        // No data at all: the request could not start (bad variables, unknown operation name).
        if (result.data === undefined || result.data === null) {
          if (result.errors?.length && !('data' in result)) return failed(422, requestErrors(result.errors, 'GRAPHQL_VALIDATION_FAILED'));
        }
        return json(200, { ...(result.errors?.length ? { errors: result.errors.map((e) => e.toJSON()) } : {}), data: result.data ?? null });
      },
    },
  ];
}
