import { createSign, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { execChecked } from './exec.js';
import type { RegistryCredentials } from './registry.js';

export interface TokenIssuer {
  /** http://127.0.0.1:PORT/token, the registry's `realm`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM file of the signing certificate, the registry's `rootcertbundle`. */
  certFile: string;
  /** Every token request as received: scopes and whether credentials came with it. */
  requests: Array<{ scopes: string[]; user: string | undefined }>;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/**
 * The actions a token grants `user` (undefined: anonymous) on `repository`, out of those asked;
 * `deny` refuses the whole token request with 403, as some services do for a forbidden scope.
 */
export type TokenGrant = (user: string | undefined, repository: string, asked: string[]) => string[] | 'deny';

/** Known users get every action they ask for; anonymous requests get `pull` only. */
const grantAll: TokenGrant = (user, _repository, asked) => (user ? asked : asked.filter((a) => a === 'pull'));

/**
 * A minimal Docker token service (the registry's `auth: token:` mode) on loopback: an RSA key
 * and self-signed certificate made with openssl in `dir`, JWTs signed RS256 with the
 * certificate in `x5c` (what distribution verifies against its rootcertbundle). What each
 * user (`users`: one or several) gets is `grant`'s answer, by default every action asked
 * (anonymous: `pull` only); a scope granted nothing is left out, as Docker Hub's service does;
 * wrong credentials get 401.
 */
export async function startTokenIssuer(
  dir: string,
  users: RegistryCredentials | readonly RegistryCredentials[],
  options: { grant?: TokenGrant } = {},
): Promise<TokenIssuer> {
  const known = Array.isArray(users) ? (users as readonly RegistryCredentials[]) : [users as RegistryCredentials];
  const grant = options.grant ?? grantAll;
  const keyFile = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  await execChecked('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=tsbuild-test-token-issuer']);
  const key = await readFile(keyFile, 'utf8');
  const certDer = Buffer.from((await readFile(certFile, 'utf8')).replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const service = 'tsbuild-test-registry';
  const issuer = 'tsbuild-test-issuer';
  const requests: TokenIssuer['requests'] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/token') {
      res.writeHead(404).end();
      return;
    }
    let who: string | undefined;
    const header = req.headers.authorization ?? '';
    if (header.startsWith('Basic ')) {
      const [u, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
      if (!known.some((k) => k.username === u && k.password === rest.join(':'))) {
        res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ details: 'invalid credentials' }));
        return;
      }
      who = u;
    }
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    requests.push({ scopes, user: who });
    const access = scopes.flatMap((scope): Array<'deny' | { type: string; name: string; actions: string[] }> => {
      const m = /^(repository):(.+):([a-z,*]+)$/.exec(scope);
      if (!m) return [];
      const actions = grant(who, m[2]!, m[3]!.split(','));
      if (actions === 'deny') return ['deny' as const];
      return actions.length > 0 ? [{ type: m[1]!, name: m[2]!, actions }] : [];
    });
    if (access.includes('deny')) {
      res.writeHead(403, { 'Content-Type': 'application/json' }).end(JSON.stringify({ details: 'requested access to the resource is denied' }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5c: [certDer.toString('base64')] }));
    const claims = b64url(JSON.stringify({ iss: issuer, sub: who ?? '', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
    const signature = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(key);
    const token = `${head}.${claims}.${b64url(signature)}`;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
