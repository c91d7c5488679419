import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Shared conformance data lives beside the checkout; read in place, never copied. */
export function conformanceDir(...parts: string[]): string {
  const base =
    process.env['TSBUILD_CONFORMANCE_DIR'] ??
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/conformance');
  return path.join(base, ...parts);
}
