/**
 * A small JSON Schema checker for the keywords progress-events.schema.json uses ($ref, oneOf,
 * type, const, enum, required, properties, items, pattern, minimum). Enough to hold every json
 * progress line to the documented schema without a validator dependency.
 */
type Schema = Record<string, unknown>;

export function validate(value: unknown, schema: Schema, root: Schema = schema, path = '$'): string[] {
  const errors: string[] = [];
  if (typeof schema['$ref'] === 'string') {
    const target = (schema['$ref'] as string).replace(/^#\//, '').split('/').reduce<unknown>((s, k) => (s as Schema)[k], root);
    errors.push(...validate(value, target as Schema, root, path));
  }
  if ('const' in schema && value !== schema['const']) errors.push(`${path}: expected ${JSON.stringify(schema['const'])}, got ${JSON.stringify(value)}`);
  if (Array.isArray(schema['enum']) && !schema['enum'].includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in ${JSON.stringify(schema['enum'])}`);
  const type = schema['type'];
  if (typeof type === 'string' && !hasType(value, type)) errors.push(`${path}: expected ${type}, got ${JSON.stringify(value)}`);
  if (typeof schema['pattern'] === 'string' && typeof value === 'string' && !new RegExp(schema['pattern']).test(value)) errors.push(`${path}: ${value} does not match ${schema['pattern']}`);
  if (typeof schema['minimum'] === 'number' && typeof value === 'number' && value < schema['minimum']) errors.push(`${path}: ${value} < ${schema['minimum']}`);
  if (isObject(value)) {
    for (const key of (schema['required'] as string[] | undefined) ?? []) if (!(key in value)) errors.push(`${path}: missing ${key}`);
    for (const [key, sub] of Object.entries((schema['properties'] as Record<string, Schema> | undefined) ?? {})) {
      if (key in value) errors.push(...validate(value[key], sub, root, `${path}.${key}`));
    }
  }
  if (Array.isArray(value) && schema['items']) value.forEach((v, i) => errors.push(...validate(v, schema['items'] as Schema, root, `${path}[${i}]`)));
  if (Array.isArray(schema['oneOf'])) {
    const matching = (schema['oneOf'] as Schema[]).filter((s) => validate(value, s, root, path).length === 0);
    if (matching.length !== 1) errors.push(`${path}: matches ${matching.length} of oneOf (expected exactly 1): ${JSON.stringify(value).slice(0, 200)}`);
  }
  return errors;
}

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
      return Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    default:
      return typeof v === type;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
