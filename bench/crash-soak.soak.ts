/**
 * The long crash-safety run: `SOAK_KILLS=N npm run soak:crash` (a vitest file of its own, run by
 * bench/crash-soak.config.ts, because it reuses the test helpers). Builds a small
 * Dockerfile (COPY + RUN) into one store again and again, SIGKILLs each build at a random time,
 * then checks what the CI test checks after every kill: no host mount under the store, fsck
 * finds no damage, and (every 5th kill, and at the end) an undisturbed build reproduces the
 * reference digest. The base is the test busybox in a local docker-registry the run starts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedBusybox, startRegistry } from '../test/helpers/registry.js';
import { expect, it } from 'vitest';
import { runTsbuild } from '../test/helpers/tsbuild.js';
import { mountsUnder, startTsbuild } from '../test/integration/reliability/harness.js';

it('survives builds SIGKILLed at random times', async () => {

const kills = Number(process.env['SOAK_KILLS'] ?? 50);
const registry = await startRegistry();
const base = await seedBusybox(registry.host);
const work = await mkdtemp(join(tmpdir(), 'tsbuild-soak-'));
const ctx = join(work, 'ctx');
const root = join(work, 'store');
await mkdir(ctx);
await writeFile(join(ctx, 'a.txt'), 'x'.repeat(200_000));
let n = 0;
const dockerfile = (i: number): string => `FROM ${base}\nCOPY a.txt /a.txt\nRUN head -c 300000 /dev/urandom > /r && echo ${i} > /i\nRUN echo done > /done\n`;
const args = ['build', '--root', root, '-q', '-t', 'soak:1', '--source-date-epoch', '1700000000', ctx];

await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY a.txt /a.txt\nRUN echo fixed > /f\n`);
const ref = await runTsbuild(args);
const reference = ref.stdout.trim();
if (!/^sha256:/.test(reference)) throw new Error(`reference build failed: ${ref.stderr}`);
const t0 = Date.now();
let damaged = 0;
let finishedBeforeKill = 0;
for (let i = 0; i < kills; i++) {
  // A different RUN each time, so every build really writes (no cache hit) and dies mid-way.
  await writeFile(join(ctx, 'Dockerfile'), dockerfile(i));
  const started = startTsbuild(args, {});
  await sleep(200 + Math.floor(Math.random() * 4000));
  started.child.kill('SIGKILL');
  const { code } = await started.done;
  if (code !== 137) finishedBeforeKill++;
  await sleep(300);
  const mounts = await mountsUnder(root);
  const fsck = await runTsbuild(['fsck', '--root', root]);
  if (mounts.length > 0 || fsck.code !== 0) {
    damaged++;
    console.error(`kill ${i}: mounts=${mounts.join(',')} fsck=${fsck.code}\n${fsck.stdout}`);
  }
  if (i % 5 === 4) {
    await runTsbuild(['fsck', '--root', root, '--repair']);
    await writeFile(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY a.txt /a.txt\nRUN echo fixed > /f\n`);
    const again = await runTsbuild(args);
    if (again.stdout.trim() !== reference) {
      damaged++;
      console.error(`rebuild after kill ${i}: ${again.stdout.trim()} != ${reference}\n${again.stderr}`);
    }
  }
  n++;
  process.stdout.write(`\rkills ${n}/${kills}, damaged ${damaged}`);
}
console.log(`\n${n} builds SIGKILLed at random times (${finishedBeforeKill} finished before the kill), ${damaged} with damage or a wrong rebuild, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
await rm(work, { recursive: true, force: true });
await registry.stop();
expect(damaged).toBe(0);
}, 24 * 3600 * 1000);
