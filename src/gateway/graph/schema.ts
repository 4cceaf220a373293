// Core's GraphQL schema (http/graph/*.graphqls in datarhei/core), the part drake answers: `ping`,
// `about` and `playoutStatus`, with Core's type and field names so that a Core client's queries
// validate unchanged. Built with graphql-js's type constructors: its scalars get real
// serializers (Uint64, Time), which an SDL-built schema would leave as the identity.
import {
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLError,
  GraphQLID,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLSchema,
  GraphQLString,
  Kind,
  type GraphQLFieldConfigMap,
  type GraphQLNullableType,
} from 'graphql';

export interface About {
  app: string;
  name: string;
  id: string;
  created_at: Date;
  uptime_seconds: number;
  version: {
    number: string;
    repository_commit: string;
    repository_branch: string;
    build_date: string;
    arch: string;
    compiler: string;
    /** drake's own version: not in Core's schema (GET /api has it). */
    drake: string;
  };
}

/** What the resolvers ask of drake. */
export interface GraphContext {
  about(): About;
  /**
   * The playout of one input of a process. drake has no playout inputs, so this throws what Core
   * says for an input without playout (or an unknown process).
   */
  playoutStatus(id: string, input: string): Promise<never>;
}

const nonNull = <T extends GraphQLNullableType>(t: T) => new GraphQLNonNull(t);

function uint64(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new GraphQLError(`Uint64 must be a non-negative integer, got ${JSON.stringify(value)}`);
}

const Uint64 = new GraphQLScalarType({
  name: 'Uint64',
  description: 'An unsigned 64-bit integer (JSON number)',
  serialize: uint64,
  parseValue: uint64,
  parseLiteral(ast) {
    if (ast.kind !== Kind.INT) throw new GraphQLError('Uint64 must be an integer literal', { nodes: ast });
    return uint64(Number(ast.value));
  },
});

const Time = new GraphQLScalarType({
  name: 'Time',
  description: 'A point in time, RFC 3339',
  serialize(value) {
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
    throw new GraphQLError('Time must be a date');
  },
  parseValue(value) {
    const d = typeof value === 'string' ? new Date(value) : null;
    if (!d || Number.isNaN(d.getTime())) throw new GraphQLError('Time must be an RFC 3339 string');
    return d;
  },
});

/** Any JSON value, as it is. */
const AnyScalar = new GraphQLScalarType({ name: 'Any', description: 'Any JSON value' });

const State = new GraphQLEnumType({ name: 'State', values: { RUNNING: { value: 'running' }, IDLE: { value: 'idle' } } });

const AboutVersion = new GraphQLObjectType({
  name: 'AboutVersion',
  fields: {
    number: { type: nonNull(GraphQLString) },
    repository_commit: { type: nonNull(GraphQLString) },
    repository_branch: { type: nonNull(GraphQLString) },
    build_date: { type: nonNull(GraphQLString) },
    arch: { type: nonNull(GraphQLString) },
    compiler: { type: nonNull(GraphQLString) },
  },
});

const AboutType = new GraphQLObjectType({
  name: 'About',
  fields: {
    app: { type: nonNull(GraphQLString) },
    id: { type: nonNull(GraphQLID) },
    name: { type: nonNull(GraphQLString) },
    created_at: { type: nonNull(Time) },
    uptime_seconds: { type: nonNull(Uint64) },
    version: { type: nonNull(AboutVersion) },
  },
});

const ioFields = (): GraphQLFieldConfigMap<unknown, GraphContext> => ({
  state: { type: nonNull(State) },
  packet: { type: nonNull(Uint64) },
  time: { type: nonNull(Uint64) },
  size_kb: { type: nonNull(Uint64) },
});
const RawAVstreamIO = new GraphQLObjectType({ name: 'RawAVstreamIO', fields: ioFields });

const RawAVstreamSwap = new GraphQLObjectType({
  name: 'RawAVstreamSwap',
  fields: {
    url: { type: nonNull(GraphQLString) },
    status: { type: nonNull(GraphQLString) },
    lasturl: { type: nonNull(GraphQLString) },
    lasterror: { type: nonNull(GraphQLString) },
  },
});

const RawAVstream = new GraphQLObjectType({
  name: 'RawAVstream',
  fields: {
    id: { type: nonNull(GraphQLString) },
    url: { type: nonNull(GraphQLString) },
    stream: { type: nonNull(Uint64) },
    queue: { type: nonNull(Uint64) },
    aqueue: { type: nonNull(Uint64) },
    dup: { type: nonNull(Uint64) },
    drop: { type: nonNull(Uint64) },
    enc: { type: nonNull(Uint64) },
    looping: { type: nonNull(GraphQLBoolean) },
    duplicating: { type: nonNull(GraphQLBoolean) },
    gop: { type: nonNull(GraphQLString) },
    debug: { type: AnyScalar },
    input: { type: nonNull(RawAVstreamIO) },
    output: { type: nonNull(RawAVstreamIO) },
    swap: { type: nonNull(RawAVstreamSwap) },
  },
});

const ping = { type: nonNull(GraphQLString), resolve: () => 'pong' };

export const graphSchema = new GraphQLSchema({
  query: new GraphQLObjectType<unknown, GraphContext>({
    name: 'Query',
    fields: {
      ping,
      about: { type: AboutType, resolve: (_root, _args, ctx) => ctx.about() },
      playoutStatus: {
        type: RawAVstream,
        args: { id: { type: nonNull(GraphQLID) }, input: { type: nonNull(GraphQLID) } },
        resolve: (_root, args: { id: string; input: string }, ctx) => ctx.playoutStatus(args.id, args.input),
      },
    },
  }),
  mutation: new GraphQLObjectType({ name: 'Mutation', fields: { ping } }),
});
