import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { TsbuildError } from '../errors.js';
import { extraCaOptions } from './trustedRoots.js';

export interface TlsFiles {
  /** The system roots (with TSBUILD_EXTRA_CA_CERTS's) plus the host's own CAs. */
  ca: string[];
  cert?: string;
  key?: string;
}

/** Where docker and podman look for a registry's certificates, per `HOST[:PORT]` directory. */
export const defaultCertDirs = ['/etc/containers/certs.d', '/etc/docker/certs.d'];

/**
 * A registry's TLS material from the certs.d layout docker and containers/image share:
 * `<dir>/<host[:port]>/*.crt` are CA certificates, `<name>.cert` + `<name>.key` a client
 * certificate. Undefined when no directory has anything for the host (the system roots apply).
 */
export async function tlsAgentOptions(host: string, extraDirs: readonly string[] = []): Promise<TlsFiles | undefined> {
  if (host.includes('/') || host.startsWith('.')) return undefined; // never a path outside certs.d
  const ca: string[] = [];
  let cert: string | undefined;
  let key: string | undefined;
  for (const base of [...extraDirs, ...defaultCertDirs]) {
    const dir = join(base, host);
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (name.endsWith('.crt')) ca.push(await readFile(join(dir, name), 'utf8'));
      else if (name.endsWith('.cert') && cert === undefined) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName)) {
          throw new TsbuildError('USAGE', `reading client certificate ${join(dir, name)}: missing key file ${keyName}`, {
            hint: 'put the key next to the certificate, with the same name ending in .key',
          });
        }
        cert = await readFile(join(dir, name), 'utf8');
        key = await readFile(join(dir, keyName), 'utf8');
      }
    }
  }
  if (ca.length === 0 && cert === undefined) return undefined;
  return { ca: [...(extraCaOptions().ca ?? rootCertificates), ...ca], ...(cert !== undefined && key !== undefined ? { cert, key } : {}) };
}
