import type { Shape } from './yaml-check.js';
import { policyShape } from './schema.js';

/** The same shape the checker enforces, as a JSON Schema for editors (yaml-language-server). */
export function shapeToJsonSchema(shape: Shape): Record<string, unknown> {
  switch (shape.kind) {
    case 'object':
      return {
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(Object.entries(shape.fields).map(([k, f]) => [k, shapeToJsonSchema(f.shape)])),
        ...(Object.entries(shape.fields).some(([, f]) => f.required) ? { required: Object.entries(shape.fields).filter(([, f]) => f.required).map(([k]) => k) } : {}),
      };
    case 'map':
      return {
        type: 'object',
        ...(shape.keyPattern ? { propertyNames: { pattern: shape.keyPattern.source } } : {}),
        additionalProperties: shapeToJsonSchema(shape.values),
      };
    case 'array':
      return { type: 'array', items: shapeToJsonSchema(shape.items), ...(shape.minItems ? { minItems: shape.minItems } : {}) };
    case 'string':
      return { type: 'string', ...(shape.enum ? { enum: [...shape.enum] } : {}), ...(shape.pattern ? { pattern: shape.pattern.source } : {}) };
    case 'boolean':
      return { type: 'boolean' };
    case 'integer':
      return { type: 'integer', ...(shape.min !== undefined ? { minimum: shape.min } : {}), ...(shape.max !== undefined ? { maximum: shape.max } : {}) };
    case 'oneOf':
      return { anyOf: shape.options.map(shapeToJsonSchema), description: `expected ${shape.hint}` };
  }
}

export function policyJsonSchema(providerNames: readonly string[]): string {
  return `${JSON.stringify(
    {
      $schema: 'http://json-schema.org/draft-07/schema#',
      title: 'scopegate policy',
      description: 'Generated from src/policy/schema.ts by `scopegate policy schema`; `scopegate policy check` is the authority.',
      ...shapeToJsonSchema(policyShape(providerNames)),
    },
    null,
    2,
  )}\n`;
}
