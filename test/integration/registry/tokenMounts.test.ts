/**
 * Cross-repository mounts under token auth: the token for a mount attempt also asks to pull
 * from the source repository, so the registry links layers it already holds instead of taking
 * them again; a user without pull rights on the source still pushes, by upload.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/faultProxy.js';
import { seedBusybox, startRegistry, type RegistryCredentials, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir, removeTree } from '../../helpers/tmp.js';
import { startTokenIssuer, type TokenIssuer } from '../../helpers/tokenIssuer.js';
import { runTsbuild } from '../../helpers/tsbuild.js';

const alice = { username: 'alice', password: 'alice-secret-7f3' };
/** Bob may push anywhere but has no right at all on private/… repositories. */
const bob = { username: 'bob', password: 'bob-secret-c91' };
/** Eve neither: the token service refuses any request of hers that names a private/… repository (403). */
const eve = { username: 'eve', password: 'eve-secret-4d0' };

describe('cross-repository mounts on a registry with token auth', () => {
  let registry: TestRegistry;
  let issuer: TokenIssuer;
  let proxy: FaultProxy;
  let dir: string;

  beforeAll(async () => {
    dir = await makeTempDir('tsbuild-tokmount-');
    issuer = await startTokenIssuer(dir, [alice, bob, eve], {
      grant: (user, repository, asked) => {
        if (repository.startsWith('private/') && user === 'eve') return 'deny';
        if (repository.startsWith('private/') && user !== 'alice') return [];
        return user ? asked : asked.filter((a) => a === 'pull');
      },
    });
    registry = await startRegistry({ token: issuer });
    proxy = await startFaultProxy(registry.host);
    proxy.setFaults(() => ({ kind: 'pass' }));
    await seedBusybox(registry.host, 'private/busybox', '1', { auth: alice });
  }, 120_000);
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await issuer?.stop();
    if (dir) await removeTree(dir);
  });

  /** An environment whose only auth file holds `who`'s credentials for the registry (through the proxy). */
  async function envFor(who: RegistryCredentials): Promise<Record<string, string>> {
    const home = await makeTempDir('tsbuild-tokmount-creds-');
    await mkdir(join(home, 'docker'));
    const auth = Buffer.from(`${who.username}:${who.password}`).toString('base64');
    await writeFile(join(home, 'docker', 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth } } }), { mode: 0o600 });
    return { DOCKER_CONFIG: join(home, 'docker'), XDG_RUNTIME_DIR: join(home, 'run'), REGISTRY_AUTH_FILE: join(home, 'none.json') };
  }

  /** A store that pulled private/busybox as alice: its record says the blobs live there. */
  async function storeWithPrivateImage(): Promise<string> {
    const root = await makeTempDir('tsbuild-tokmount-store-');
    const pull = await runTsbuild(['pull', '--root', root, '-q', `${proxy.host}/private/busybox:1`], { env: await envFor(alice) });
    expect(pull.stderr).toBe('');
    expect(pull.code).toBe(0);
    return root;
  }

  async function push(root: string, who: RegistryCredentials, repo: string): Promise<typeof proxy.log> {
    proxy.log.length = 0;
    issuer.requests.length = 0;
    const r = await runTsbuild(['push', '--root', root, '-q', `${proxy.host}/private/busybox:1`, `docker://${proxy.host}/${repo}:1`], { env: await envFor(who) });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(who.password);
    return [...proxy.log];
  }

  /** The tag at the registry itself is complete: skopeo checks every blob's digest while copying it out. */
  async function assertWhole(repo: string): Promise<void> {
    const out = await makeTempDir('tsbuild-tokmount-check-');
    try {
      const copy = await execCommand('skopeo', [
        '--insecure-policy', 'copy', '--src-tls-verify=false', '--src-creds', `${alice.username}:${alice.password}`,
        `docker://${registry.host}/${repo}:1`, `oci:${out}/l:1`,
      ]);
      expect(copy.stderr).toBe('');
      expect(copy.code).toBe(0);
    } finally {
      await removeTree(out);
    }
  }

  const uploads = (log: typeof proxy.log) => log.filter((e) => (e.method === 'PUT' || e.method === 'PATCH') && e.url.includes('/blobs/'));
  const mountsFrom = (log: typeof proxy.log, repo: string) =>
    log.filter((e) => e.method === 'POST' && e.url.includes('mount=') && e.url.includes(`from=${encodeURIComponent(repo)}`));
  /** Token requests that asked for pushing to `dest` and pulling from `source` at once. */
  const bothScopes = (dest: string, source: string) =>
    issuer.requests.filter((r) => r.scopes.includes(`repository:${dest}:pull,push`) && r.scopes.includes(`repository:${source}:pull`));

  it('mounts the layers another repository holds: one token for both repositories, no blob bytes sent', async () => {
    const root = await storeWithPrivateImage();
    try {
      const log = await push(root, alice, 'team/busybox');
      // The last answer to each mount POST (a first 401 only asks for the token).
      const mounts = mountsFrom(log, 'private/busybox').filter((e) => e.status !== 401);
      expect(mounts.map((e) => e.status)).toEqual([201, 201]); // config and layer
      expect(uploads(log)).toEqual([]);
      expect(bothScopes('team/busybox', 'private/busybox').every((r) => r.user === 'alice')).toBe(true);
      expect(bothScopes('team/busybox', 'private/busybox').length).toBeGreaterThanOrEqual(1);
      await assertWhole('team/busybox');
    } finally {
      await removeTree(root);
    }
  }, 180_000);

  // bob: the token service grants no pull on private/*, so the registry refuses the mount;
  // eve: the token service answers 403 to any request naming private/*.
  it.each([
    ['a user without pull rights on the source repository pushes by upload, without an error', 'bob'],
    ['a token service that refuses the source repository outright does not fail the push either', 'eve'],
  ] as const)('%s', async (_title, who) => {
    const user = who === 'bob' ? bob : eve;
    const dest = `${who}/busybox`;
    const root = await storeWithPrivateImage();
    try {
      const log = await push(root, user, dest);
      expect(bothScopes(dest, 'private/busybox').length).toBeGreaterThanOrEqual(1);
      expect(mountsFrom(log, 'private/busybox').some((e) => e.status === 201)).toBe(false);
      expect(uploads(log).filter((e) => e.status === 201).length).toBe(2); // config and layer, each uploaded whole
      await assertWhole(dest);
    } finally {
      await removeTree(root);
    }
  }, 180_000);
});
