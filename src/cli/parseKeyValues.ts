import { TsbuildError } from '../errors.js';

/** NAME=VALUE pairs; for --build-arg a bare NAME takes the value from the environment, as docker does. */
export function parseKeyValues(items: readonly string[], flag: string, fromEnv: boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq > 0) out.set(item.slice(0, eq), item.slice(eq + 1));
    else if (fromEnv && eq < 0 && item.length > 0) {
      const v = process.env[item];
      if (v !== undefined) out.set(item, v);
    } else throw new TsbuildError('USAGE', `invalid ${flag} ${JSON.stringify(item)}: expected NAME=VALUE`);
  }
  return out;
}
