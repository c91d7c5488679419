/**
 * Pushes and pulls through the fault-injecting proxy (test/helpers/faultProxy.ts) with random
 * faults on any request: each command either succeeds with the right digest or fails with one
 * clear error, and the registry never holds a tag naming a missing or partial blob, the store
 * never a damaged image. TSBUILD_SOAK_ROUNDS raises the count (npm run soak:registry).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execCommand } from '../../helpers/exec.js';
import { startFaultProxy, type Fault, type FaultProxy } from '../../helpers/faultProxy.js';
import { seedBusybox, startRegistry, type TestRegistry } from '../../helpers/registry.js';
import { makeTempDir } from '../../helpers/tmp.js';
import { runTsbuild } from '../../helpers/tsbuild.js';
import { prng } from '../../unit/fuzz/mutator.js';

const ROUNDS = Number(process.env['TSBUILD_SOAK_ROUNDS'] ?? 3);

describe('registry faults, pushes and pulls under random faults', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let base: string;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.host);
    base = await seedBusybox(registry.host);
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  /** The tag at the registry itself (not through the proxy) is absent, or complete and intact. */
  async function assertAbsentOrWhole(ref: string, expectDigest: string): Promise<'absent' | 'whole'> {
    const raw = await execCommand('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${ref}`]);
    if (raw.code !== 0) {
      expect(raw.stderr).toMatch(/manifest unknown|not found/i);
      return 'absent';
    }
    expect(raw.stdout.trim()).toBe(expectDigest);
    const dir = await makeTempDir('tsbuild-rf-check');
    // skopeo checks every blob's digest while copying.
    const copy = await execCommand('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${dir}/l:1`]);
    expect(copy.stderr).toBe('');
    return 'whole';
  }

  it(`${ROUNDS} pushes and ${ROUNDS} pulls under random faults lose or corrupt nothing`, async () => {
    const rand = prng(4242);
    const kinds: Array<() => Fault> = [
      () => ({ kind: 'reset' }),
      () => ({ kind: 'status', status: [500, 502, 503][Math.floor(rand() * 3)]! }),
      () => ({ kind: 'status', status: 429, retryAfter: '0' }),
      () => ({ kind: 'cutUpload', afterBytes: Math.floor(rand() * 4000) }),
      () => ({ kind: 'cutDownload', afterBytes: Math.floor(rand() * 4000) }),
    ];
    proxy.setFaults(() => (rand() < 0.2 ? kinds[Math.floor(rand() * kinds.length)]!() : { kind: 'pass' }));

    const root = await makeTempDir('tsbuild-rf-store');
    const ctx = await makeTempDir('tsbuild-rf-ctx');
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo pushed > /p\n`);
    const built = await runTsbuild(['build', '--root', root, '-q', '-t', 'rf:1', '--source-date-epoch', '1700000000', ctx]);
    expect(built.stderr).toBe('');
    const images = JSON.parse((await runTsbuild(['images', '--root', root, '--json'])).stdout) as Array<{ digest: string; id: string }>;
    const manifestDigest = images[0]!.digest;

    const outcome = { pushOk: 0, pushFailed: 0, pullOk: 0, pullFailed: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const path = `soak/r${i}:1`;
      const t0 = Date.now();
      let pushed = false;
      const push = await runTsbuild(['push', '--root', root, '-q', 'rf:1', `docker://${proxy.host}/${path}`]);
      if (push.code === 0) {
        outcome.pushOk++;
        pushed = true;
        expect(push.stdout.trim()).toBe(manifestDigest);
        expect(await assertAbsentOrWhole(`${registry.host}/${path}`, manifestDigest)).toBe('whole');
      } else {
        outcome.pushFailed++;
        expect(push.stderr, push.stderr).toMatch(/^error: /);
        expect(push.stderr).not.toContain('internal error');
        await assertAbsentOrWhole(`${registry.host}/${path}`, manifestDigest);
      }

      // A pull: a fresh store builds FROM the pushed image through the proxy.
      const store = await makeTempDir('tsbuild-rf-pull');
      const pctx = await makeTempDir('tsbuild-rf-pctx');
      await writeFile(join(pctx, 'Dockerfile'), `FROM ${proxy.host}/${pushed ? path : 'library/busybox:latest'}\nRUN echo pulled > /q\n`);
      const pull = await runTsbuild(['build', '--root', store, '-q', pctx]);
      if (pull.code === 0) outcome.pullOk++;
      else {
        outcome.pullFailed++;
        expect(pull.stderr, pull.stderr).toMatch(/^error: /);
        expect(pull.stderr).not.toContain('internal error');
      }
      const check = await runTsbuild(['fsck', '--root', store]);
      expect(check.code, check.stdout).toBe(0);
      console.log(`round ${i}: push ${push.code}, pull ${pull.code}, ${((Date.now() - t0) / 1000).toFixed(1)} s${push.code ? ` (${push.stderr.split('\n')[0]})` : ''}${pull.code ? ` (${pull.stderr.split('\n')[0]})` : ''}`);
    }
    const injected = proxy.log.filter((e) => e.fault !== 'pass').length;
    console.log(`registry faults: ${proxy.log.length} requests, ${injected} faults injected, ${JSON.stringify(outcome)}`);
    expect(injected).toBeGreaterThan(0);
    // Retries absorb most faults: at least half of the commands must succeed.
    expect(outcome.pushOk + outcome.pullOk).toBeGreaterThanOrEqual(ROUNDS);
  }, 120_000 + ROUNDS * 90_000);
});
