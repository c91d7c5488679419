// Deterministic benchmark cases: each is a build context (ctx/), a Dockerfile for tsbuild (FROM
// base, given with --build-context) and one for buildah (FROM oci:LAYOUT:TAG), and the file whose
// change is the "one late file changed" rebuild. Contexts are cached under CACHE_DIR keyed by
// their parameters: generating 1 GiB or 20,000 files is not what is being measured.
import { createCipheriv } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';

/** Every Dockerfile ends by copying this file, so changing it invalidates only the last step. */
export const LATE_FILE = 'late.txt';

const smallFiles = (count) => ({
  name: 'small-files',
  title: `${count.toLocaleString('en')} small files, COPY then touched by a RUN`,
  key: `small-files-${count}-v1`,
  base: 'busybox',
  async fill(ctx) {
    const perDir = 200;
    const limit = pLimit(64);
    const jobs = [];
    for (let d = 0; d * perDir < count; d++) {
      const dir = join(ctx, 'files', `d${d}`);
      jobs.push(limit(async () => {
        await mkdir(dir, { recursive: true });
        for (let f = 0; f < perDir && d * perDir + f < count; f++) await writeFile(join(dir, `f${f}.txt`), `file ${d}/${f}\n`.repeat(1 + (f % 8)));
      }));
    }
    await Promise.all(jobs);
  },
  steps: ['COPY files /files', 'RUN find /files -type f -exec touch {} +'],
});

const bigFile = (mib) => ({
  name: 'big-file',
  title: `one ${mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`} file of random data`,
  key: `big-file-${mib}-v1`,
  base: 'busybox',
  // AES-128-CTR of zeros under a fixed key: incompressible like real binaries, same bytes every run.
  async fill(ctx) {
    const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16, 0));
    const out = createWriteStream(join(ctx, 'big.bin'));
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < mib; i++) {
      if (!out.write(cipher.update(zeros))) await new Promise((r) => out.once('drain', r));
    }
    await new Promise((r, j) => out.end((err) => (err ? j(err) : r())));
  },
  steps: ['COPY big.bin /big.bin'],
});

const builderStage = (name) => [
  `FROM {BASE} AS ${name}`,
  `RUN mkdir /out && seq 1 2000000 > /out/${name}-numbers && i=0; while [ $i -lt 500 ]; do echo ${name} $i > /out/${name}-$i; i=$((i+1)); done`,
];

const multiStage = () => ({
  name: 'multi-stage',
  title: '3 stages: two independent builder stages, the last copies from both',
  key: 'multi-stage-v1',
  base: 'busybox',
  async fill() {},
  preamble: [...builderStage('left'), ...builderStage('right'), 'FROM {BASE}'],
  steps: ['COPY --from=left /out /left', 'COPY --from=right /out /right'],
});

// The same 30 steps as bench/cache-rebuild.sh (which this harness absorbs): COPY, RUN, LABEL, ENV, ...
const thirtySteps = () => ({
  name: '30-steps',
  title: 'a 30-step Dockerfile (COPY, RUN, LABEL, ENV, USER ...)',
  key: '30-steps-v1',
  base: 'busybox',
  async fill(ctx) {
    await mkdir(join(ctx, 'src'), { recursive: true });
    for (let i = 1; i <= 20; i++) await writeFile(join(ctx, 'src', `f${i}.txt`), `file ${i}\n`);
  },
  steps: [
    'ARG VERSION=1', 'ENV APP_HOME=/app', 'WORKDIR /app',
    ...Array.from({ length: 8 }, (_, k) => [`COPY src/f${k + 1}.txt /app/src/`, `RUN echo step ${k + 1} $VERSION > /app/step${k + 1} && cat /app/src/f${k + 1}.txt >> /app/step${k + 1}`]).flat(),
    ...Array.from({ length: 5 }, (_, k) => `LABEL step${k + 1}=${k + 1}`),
    'RUN ls /app > /app/listing', 'EXPOSE 8080', 'ENV MODE=prod', 'CMD ["cat", "/app/listing"]',
  ],
  // USER after the late COPY would make it root-owned either way; keep it last like the original.
  trailer: ['USER 1000'],
});

const debianApt = () => ({
  name: 'debian-apt',
  title: 'Debian bookworm base, apt-get install (network: the machine\'s apt mirror)',
  key: 'debian-apt-v1',
  base: 'debian',
  async fill() {},
  steps: ['RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*'],
});

export function allCases({ smallCount = 20000, bigMib = 1024 } = {}) {
  return [smallFiles(smallCount), bigFile(bigMib), multiStage(), thirtySteps(), debianApt()];
}

function dockerfile(c, from) {
  const lines = [...(c.preamble ?? [`FROM ${from}`]), ...c.steps, `COPY ${LATE_FILE} /${LATE_FILE}`, ...(c.trailer ?? [])];
  return `${lines.join('\n').replaceAll('{BASE}', from)}\n`;
}

/**
 * Makes (or reuses) the case's directory: ctx/, Dockerfile (FROM base) and Dockerfile.buildah
 * (FROM oci:LAYOUT:TAG; buildah takes only lowercase paths there). Returns the paths.
 */
export async function prepareCase(c, cacheDir, baseRef) {
  const dir = join(cacheDir, c.key);
  const ctx = join(dir, 'ctx');
  if (!(await stat(join(dir, 'ready')).catch(() => undefined))) {
    const staging = `${dir}.staging-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(join(staging, 'ctx'), { recursive: true });
    await c.fill(join(staging, 'ctx'));
    await writeFile(join(staging, 'ready'), '');
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  }
  await writeFile(join(ctx, LATE_FILE), 'late 0\n');
  await writeFile(join(dir, 'Dockerfile'), dockerfile(c, 'base'));
  await writeFile(join(dir, 'Dockerfile.buildah'), dockerfile(c, `oci:${baseRef.layout}:${baseRef.tag}`));
  return { dir, ctx, dockerfile: join(dir, 'Dockerfile'), buildahDockerfile: join(dir, 'Dockerfile.buildah') };
}
