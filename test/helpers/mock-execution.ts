import {
  execute,
  getNullableType,
  isEnumType,
  isListType,
  isScalarType,
  Kind,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLOutputType,
  type GraphQLSchema,
  type GraphQLTypeResolver,
  type OperationDefinitionNode,
} from 'graphql';

/**
 * A real graphql-js execution of a document against a schema with mock resolvers, recording what
 * the executor invoked at the root: the reference the extractor is compared with.
 */
export interface RootCall {
  opType: string;
  opName: string | null;
  field: string;
  /** response key: alias or field name */
  key: string;
  /** arguments as graphql-js coerced them */
  args: Record<string, unknown>;
}

export interface Execution {
  calls: RootCall[];
  /** error messages per operation name ('' for the anonymous operation) */
  errors: Map<string, string[]>;
}

/** A value of the declared return type, so that every field, non-null or not, resolves. */
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
        return {}; // JSON, EnvironmentConfig, EnvironmentVariables, ...: identity-serialised
    }
  }
  return {}; // object, interface, union: sub-fields are fabricated by the same resolver
}

const fieldResolver: GraphQLFieldResolver<unknown, RootCall[]> = (_source, args, calls, info) => {
  // root level: no parent path (info.parentType is then the operation's root type)
  if (info.path.prev === undefined) {
    calls.push({ opType: info.operation.operation, opName: info.operation.name?.value ?? null, field: info.fieldName, key: String(info.path.key), args: args as Record<string, unknown> });
  }
  return fabricate(info.returnType);
};

/** Execute every operation of the document, each by its name, and collect the root calls. */
export async function executeEveryOperation(schema: GraphQLSchema, doc: DocumentNode, variables: Record<string, unknown> | undefined): Promise<Execution> {
  const typeResolver: GraphQLTypeResolver<unknown, RootCall[]> = (_v, _c, _i, abstractType) => schema.getPossibleTypes(abstractType)[0]?.name;
  const calls: RootCall[] = [];
  const errors = new Map<string, string[]>();
  for (const op of doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)) {
    const mine: RootCall[] = [];
    const result = await execute({ schema, document: doc, variableValues: variables, operationName: op.name?.value, contextValue: mine, fieldResolver, typeResolver });
    calls.push(...mine);
    if (result.errors?.length) errors.set(op.name?.value ?? '', result.errors.map((e) => e.message));
  }
  return { calls, errors };
}
