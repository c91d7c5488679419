/** `-o/--output` as buildx spells it: `type=oci,dest=out.tar`, `type=oci,dest=dir,tar=false`. */
import { TsbuildError } from '../errors.js';

export type OutputSpec = { type: 'oci'; dest: string; tar: boolean };

export function parseOutputSpec(text: string): OutputSpec {
  const fields = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      throw new TsbuildError('USAGE', `invalid --output ${JSON.stringify(text)}: expected key=value pairs`, { hint: 'e.g. -o type=oci,dest=out.tar' });
    }
    fields.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  const type = fields.get('type');
  if (type !== 'oci') {
    throw new TsbuildError('USAGE', `--output type=${type ?? '(missing)'} is not supported yet`, { hint: 'use -o type=oci,dest=PATH[,tar=false]' });
  }
  const dest = fields.get('dest');
  if (!dest) throw new TsbuildError('USAGE', '--output type=oci needs dest=PATH', { hint: 'e.g. -o type=oci,dest=out.tar' });
  const tarField = fields.get('tar') ?? 'true';
  if (tarField !== 'true' && tarField !== 'false') throw new TsbuildError('USAGE', `--output tar=${tarField}: expected true or false`);
  return { type: 'oci', dest, tar: tarField === 'true' };
}
