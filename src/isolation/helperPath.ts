import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsbuildError } from '../errors.js';

/** Where `npm ci` builds the helper: <package root>/native/build/tsbuild-helper. */
export function defaultHelperPath(): string {
  // This file runs as dist/isolation/helperPath.js (or src/isolation/helperPath.ts under vitest):
  // either way the package root is two levels up.
  const here = dirname(fileURLToPath(import.meta.url));
  return join(here, '..', '..', 'native', 'build', 'tsbuild-helper');
}

/**
 * Resolves the helper binary: an explicit path, else $TSBUILD_HELPER, else the package's own
 * build. Fails with HELPER_MISSING when it isn't there or isn't executable.
 */
export async function locateHelper(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const path = explicit ?? (env['TSBUILD_HELPER'] || undefined) ?? defaultHelperPath();
  try {
    await access(path, constants.X_OK);
  } catch (err) {
    throw new TsbuildError('HELPER_MISSING', `locating the namespace helper: ${path} is missing or not executable`, {
      hint: 'run npm ci (it builds native/ with cc)',
      cause: err,
    });
  }
  return path;
}
