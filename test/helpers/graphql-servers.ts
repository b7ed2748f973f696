/**
 * Real GraphQL server stacks on Node, each started in-process on 127.0.0.1 as a stand-in upstream
 * that records the root fields it executed. The differential harness
 * (test/unit/differential-servers.test.ts) sends every one the same raw bytes it sends scopegate's
 * reader, and holds scopegate's reading against what these servers actually ran.
 *
 * Each stack is configured the way its documentation's common setup does (its own body parsing,
 * batching where it has an option), so the harness reads requests the way real deployments do.
 * All of them share the one installed graphql module: the schema objects built here are used by
 * every stack, and a second graphql copy would make them refuse the schema.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { GraphQLFieldResolver, GraphQLOutputType, GraphQLSchema } from 'graphql';
import { createHandler } from 'graphql-http/lib/use/http';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { createYoga } from 'graphql-yoga';
import Fastify, { type FastifyInstance } from 'fastify';
import mercurius from 'mercurius';

/** One root field a server's executor invoked. */
export interface Executed {
  type: 'query' | 'mutation' | 'subscription';
  name: string;
  args: Record<string, unknown>;
}

export interface RunningServer {
  name: string;
  port: number;
  executed(): Executed[];
  reset(): void;
  stop(): Promise<void>;
}

/** Railway's endpoint path; servers that route by path serve it there. */
export const GRAPHQL_PATH = '/graphql/v2';

/**
 * graphql through Node's own resolution (its CommonJS build), the copy every server stack loads:
 * vitest would resolve a plain import to the ESM build, a second module the stacks refuse schemas from.
 */
const { buildSchema, getNullableType, isAbstractType, isEnumType, isListType, isObjectType, isScalarType } = createRequire(import.meta.url)('graphql') as typeof import('graphql');
// graphql-helix's "exports" hide its type declarations from TypeScript; the types are read by path
type Helix = typeof import('../../node_modules/graphql-helix/dist/index.js');
const { getGraphQLParameters, processRequest } = createRequire(import.meta.url)('graphql-helix') as Helix;

const SDL = readFileSync(new URL('../fixtures/railway/schema.graphql', import.meta.url), 'utf8');

/** A value of the declared type (as test/helpers/mock-execution.ts does), so non-null fields resolve. */
function fabricate(type: GraphQLOutputType): unknown {
  const t = getNullableType(type);
  if (isListType(t)) return [];
  if (isEnumType(t)) return t.getValues()[0]?.value;
  if (isScalarType(t)) {
    switch (t.name) {
      case 'Int':
        return 1;
      case 'Float':
        return 1.5;
      case 'String':
        return 'mock';
      case 'Boolean':
        return true;
      case 'ID':
        return 'mock-id';
      case 'DateTime':
        return '2025-01-01T00:00:00.000Z';
      case 'BigInt':
        return '1';
      default:
        return {};
    }
  }
  return {};
}

/** Args as plain JSON data: executors hand out null-prototype objects, which deep-equality would tell apart. */
function plain(args: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(args ?? {})) as Record<string, unknown>;
}

/**
 * A schema of its own for each server (so logs cannot mix), with a resolver on every field: root
 * fields record themselves, every field returns a value its type accepts, abstract types resolve
 * to their first possible type. Resolvers live on the schema, so every stack runs the same ones.
 */
function recordingSchema(log: Executed[]): GraphQLSchema {
  const schema = buildSchema(SDL);
  const roots = new Map([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter((t) => t != null).map((t) => [t!.name, t!]));
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    if (isAbstractType(type)) type.resolveType = () => schema.getPossibleTypes(type)[0]?.name;
    if (!isObjectType(type)) continue;
    const isRoot = roots.get(type.name) === type;
    for (const field of Object.values(type.getFields())) {
      const resolve: GraphQLFieldResolver<unknown, unknown> = (_src, args, _ctx, info) => {
        if (isRoot && info.operation.operation !== 'subscription') log.push({ type: info.operation.operation, name: info.fieldName, args: plain(args) });
        return fabricate(info.returnType);
      };
      field.resolve = resolve;
      if (type === schema.getSubscriptionType()) {
        field.subscribe = async function* (_src, args, _ctx, info) {
          log.push({ type: 'subscription', name: info.fieldName, args: plain(args) });
          yield { [info.fieldName]: fabricate(info.returnType) };
        };
      }
    }
  }
  return schema;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function running(name: string, port: number, log: Executed[], stop: () => Promise<void>): RunningServer {
  return { name, port, executed: () => [...log], reset: () => void log.splice(0), stop };
}

/** graphql-http, the GraphQL-over-HTTP reference implementation, on Node's http (its /lib/use/http handler). */
export async function startGraphqlHttp(): Promise<RunningServer> {
  const log: Executed[] = [];
  const server = createServer(createHandler({ schema: recordingSchema(log) }));
  return running('graphql-http', await listen(server), log, () => close(server));
}

/** Apollo Server's standalone server (its own cors + body-parser JSON stack), batching enabled, CSRF prevention as shipped. */
export async function startApollo(): Promise<RunningServer> {
  const log: Executed[] = [];
  const apollo = new ApolloServer({ schema: recordingSchema(log), allowBatchedHttpRequests: true, introspection: false, includeStacktraceInErrorResponses: false });
  const { url } = await startStandaloneServer(apollo, { listen: { port: 0, host: '127.0.0.1' } });
  return running('apollo-server', Number(new URL(url).port), log, () => apollo.stop());
}

/** GraphQL Yoga on Node's http, batching enabled (GET, POST JSON, form-encoded, multipart uploads are built in). */
export async function startYoga(): Promise<RunningServer> {
  const log: Executed[] = [];
  const yoga = createYoga({ schema: recordingSchema(log), graphqlEndpoint: GRAPHQL_PATH, batching: true, logging: false, graphiql: false, maskedErrors: true });
  const server = createServer(yoga);
  return running('graphql-yoga', await listen(server), log, () => close(server));
}

async function fastifyListen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

/** Mercurius on Fastify, batched queries allowed (GET, POST JSON, application/graphql). */
export async function startMercurius(): Promise<RunningServer> {
  const log: Executed[] = [];
  const app = Fastify({ logger: false });
  await app.register(mercurius, { schema: recordingSchema(log), path: GRAPHQL_PATH, allowBatchedQueries: true, graphiql: false });
  return running('mercurius', await fastifyListen(app), log, () => app.close());
}

/**
 * graphql-helix behind Fastify, as helix's README wires it: Fastify parses the body and the query
 * string, helix's getGraphQLParameters picks the parameters from them.
 */
export async function startHelix(): Promise<RunningServer> {
  const log: Executed[] = [];
  const schema = recordingSchema(log);
  const app = Fastify({ logger: false });
  app.route({
    method: ['GET', 'POST'],
    url: GRAPHQL_PATH,
    handler: async (req, reply) => {
      const request: Parameters<Helix['getGraphQLParameters']>[0] = { body: req.body, headers: req.headers, method: req.method, query: req.query };
      const { operationName, query, variables } = getGraphQLParameters(request);
      const result = await processRequest({ operationName, query, variables, request, schema });
      if (result.type === 'RESPONSE') {
        for (const { name, value } of result.headers) void reply.header(name, value);
        return reply.status(result.status).send(result.payload);
      }
      // streams (subscriptions, @defer) are not what this harness compares: end them at once
      if (result.type === 'PUSH') await result.unsubscribe?.();
      return reply.status(200).send({});
    },
  });
  return running('graphql-helix', await fastifyListen(app), log, () => app.close());
}

export const STACKS: readonly (() => Promise<RunningServer>)[] = [startGraphqlHttp, startApollo, startYoga, startMercurius, startHelix];

/** Start every stack; if one fails to start, the ones already up are stopped. */
export async function startAll(): Promise<RunningServer[]> {
  const up: RunningServer[] = [];
  try {
    for (const start of STACKS) up.push(await start());
  } catch (e) {
    await Promise.all(up.map((s) => s.stop()));
    throw e;
  }
  return up;
}
