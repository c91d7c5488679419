/**
 * The CA certificates tsbuild's own TLS connections trust beyond Node's default store.
 *
 * NODE_EXTRA_CA_CERTS is read by Node at every start-up, before any code runs: about 60 ms for
 * Debian's 144-certificate bundle, a third of a cached rebuild, although most runs (a cached
 * rebuild, images, tag, ...) make no TLS connection. So the installed command, bin/tsbuild,
 * hands the file over as TSBUILD_EXTRA_CA_CERTS (and unsets the original), and the agents that
 * make TLS connections (the registry client, ADD's downloads) read it here, on first use: Node's
 * roots plus the file's certificates, as NODE_EXTRA_CA_CERTS would have given them.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

export const EXTRA_CA_ENV = 'TSBUILD_EXTRA_CA_CERTS';

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

let memo: { file: string; ca: string[] | undefined } | undefined;

/**
 * `{ ca }` for an https.Agent when TSBUILD_EXTRA_CA_CERTS names a file, else `{}` (Node's default
 * store, which already holds NODE_EXTRA_CA_CERTS when Node read it itself). A file that cannot be
 * read is skipped with a warning, as Node does.
 */
export function extraCaOptions(env: NodeJS.ProcessEnv = process.env, warn: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): { ca?: string[] } {
  const file = env[EXTRA_CA_ENV];
  if (file === undefined || file === '') return {};
  if (memo?.file !== file) memo = { file, ca: readExtra(file, warn) };
  return memo.ca ? { ca: memo.ca } : {};
}

function readExtra(file: string, warn: (m: string) => void): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    warn(`warning: ignoring extra CA certificates from ${file} (NODE_EXTRA_CA_CERTS): ${(err as Error).message}`);
    return undefined;
  }
  const extra = text.match(PEM) ?? [];
  if (extra.length === 0) {
    warn(`warning: ignoring extra CA certificates from ${file} (NODE_EXTRA_CA_CERTS): no PEM certificate in it`);
    return undefined;
  }
  return [...rootCertificates, ...extra];
}
