import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The digest of the first manifest an OCI layout's index.json names: what a user compares between two builds. */
export async function manifestDigest(layout: string): Promise<string> {
  const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  return index.manifests[0]!.digest;
}
