#!/usr/bin/env node
// npm run bench [-- --runs N] [--cases a,b] [--scenarios x,y] [--big-mib M] [--small-files N] [--write-readme] [--no-install]
//
// tsbuild next to buildah (Debian's 1.28, as root, private --root/--runroot, overlay driver or vfs)
// on the same generated Dockerfiles: for every case and every run the two tools take turns (the
// one that goes first alternates), each doing cold build → no-change rebuild → rebuild after the
// late file changed → export to an OCI layout → push to a local docker-registry on 127.0.0.1.
// Medians of wall time and peak RSS, the ratio tsbuild/buildah, and the machine's floor on the
// same data (tar|sha256sum, tar|gzip -1|sha256sum, tar|pigz -1|sha256sum, cp -a; plus tsbuild's
// layer commit alone). Installs the Debian packages it needs with apt-get (--no-install: only
// says what is missing). Run as root after `npm ci`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, release, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LATE_FILE, allCases, prepareCase } from './benchCases.mjs';
import { buildahTool, floorCommands, measure, median, probeBuildahDriver, tsbuildTool } from './benchTools.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const SCENARIOS = ['cold', 'no-change', 'one-file-changed', 'export-oci', 'push'];
const TARGETS = { cold: 0.8, 'no-change': 0.5, 'one-file-changed': 0.6 };

const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    cases: { type: 'string' },
    scenarios: { type: 'string' },
    'big-mib': { type: 'string', default: '1024' },
    'small-files': { type: 'string', default: '20000' },
    'write-readme': { type: 'boolean', default: false },
    json: { type: 'string' },
    'cache-dir': { type: 'string', default: '/var/tmp/tsbuild-bench-cases' },
    // Only say what is missing instead of installing it.
    'no-install': { type: 'boolean', default: false },
  },
});
const runs = Number(opt.runs);
const cases = allCases({ smallCount: Number(opt['small-files']), bigMib: Number(opt['big-mib']) })
  .filter((c) => !opt.cases || opt.cases.split(',').includes(c.name));
const scenarios = opt.scenarios ? opt.scenarios.split(',') : SCENARIOS;
const unknown = scenarios.filter((s) => !SCENARIOS.includes(s));
if (!(runs >= 1) || unknown.length || cases.length === 0) {
  console.error(`bench: bad arguments (runs ≥ 1; scenarios: ${SCENARIOS.join(',')}; cases: ${allCases().map((c) => c.name).join(',')})`);
  process.exit(2);
}

/** The Debian packages the bench runs (buildah the peer; time, pigz, the registry, busybox, runc). */
const TOOLS = [['buildah', 'buildah'], ['/usr/bin/time', 'time'], ['pigz', 'pigz'], ['docker-registry', 'docker-registry'], ['busybox', 'busybox-static'], ['runc', 'runc']];

function missingPackages() {
  return TOOLS.filter(([tool]) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0).map(([, pkg]) => pkg);
}

/**
 * What the bench needs: root, a built tsbuild, and the Debian packages above, which it installs
 * with apt-get (from the machine's Debian archive) unless --no-install.
 */
function checkPrerequisites() {
  const problems = [];
  if (process.getuid?.() !== 0) problems.push('run as root (buildah runs rootful with a private --root)');
  if (!existsSync(join(repo, 'dist/cli/commands.js'))) problems.push('tsbuild is not built: npm ci && npm run build');
  let missing = missingPackages();
  if (missing.length && !opt['no-install'] && process.getuid?.() === 0) {
    console.error(`bench: installing ${missing.join(' ')} (apt-get) ...`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    if (update.status === 0) spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
    missing = missingPackages();
  }
  problems.push(...missing.map((pkg) => `${TOOLS.find(([, p]) => p === pkg)[0]}: apt-get install ${pkg}`));
  if (problems.length) {
    console.error(`bench: missing prerequisites:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
}

async function freePort() {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function startRegistry(work) {
  const port = await freePort();
  const config = join(work, 'registry.yml');
  await writeFile(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  const proc = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false)) return { host: `127.0.0.1:${port}`, stop: () => proc.kill('SIGTERM') };
    await sleep(100);
  }
  proc.kill('SIGTERM');
  throw new Error('docker-registry did not start');
}

/** The Debian base: test/helpers/debianBase.ts's cached debootstrap layout, made by it if missing. */
async function debianBase() {
  const cache = join(tmpdir(), 'tsbuild-test-fixtures');
  const find = async () => (await readdir(cache).catch(() => [])).find((n) => n.startsWith('debian-bookworm-') && existsSync(join(cache, n, 'index.json')));
  let name = await find();
  const mirrorOf = async () => (name ? (await readFile(join(cache, name, 'mirror'), 'utf8').catch(() => '')).trim() : '') || 'http://deb.debian.org/debian';
  const reachable = await fetch(`${await mirrorOf()}/dists/bookworm/Release`, { method: 'HEAD', signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
  if (!reachable) return { skip: `the Debian mirror ${await mirrorOf()} is unreachable` };
  if (!name) {
    console.error('making the Debian base with debootstrap (once; cached like the tests do) ...');
    const r = spawnSync('npx', ['vite-node', '-e', "import('./test/helpers/debianBase.ts').then(async (m) => console.log((await m.debianLayout()).dir))"], { cwd: repo, stdio: ['ignore', 'inherit', 'inherit'] });
    name = await find();
    if (r.status !== 0 || !name) return { skip: 'debootstrap of the Debian base failed' };
  }
  return { layout: join(cache, name), tag: 'bookworm' };
}

const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');

async function main() {
  checkPrerequisites();
  const startedAt = new Date();
  const loadBefore = loadavg();
  await mkdir(opt['cache-dir'], { recursive: true });
  // lowercase: buildah reads FROM oci:PATH as an image name
  const work = join('/var/tmp', `tsbuild-bench-${process.pid}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work);
  const timeFile = join(work, 'time.out');
  const registry = await startRegistry(work);
  const driver = await probeBuildahDriver(work);
  // tsbuild under test is a frozen copy: another `npm run build` in this checkout mid-run must not
  // swap the code being measured (or break it half-way).
  const frozen = join(work, 'tsbuild');
  await mkdir(join(frozen, 'native'), { recursive: true });
  for (const part of ['bin', 'dist', 'package.json', 'native/build']) await cp(join(repo, part), join(frozen, part), { recursive: true });
  await symlink(join(repo, 'node_modules'), join(frozen, 'node_modules'));
  const tools = [tsbuildTool(frozen, work, registry), buildahTool(work, driver, registry)];
  const bases = { busybox: { layout: join(work, 'busybox'), tag: 'latest' } };
  spawnSync('bash', [join(repo, 'fixtures/busybox/make-busybox-image.sh'), bases.busybox.layout, 'latest'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (cases.some((c) => c.base === 'debian')) bases.debian = await debianBase();
  const results = [];
  const skipped = [];
  const floors = [];
  const failures = [];
  const interrupted = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => interrupted.abort());
  const signal = interrupted.signal;
  try {
    for (const c of cases) {
      const base = bases[c.base];
      if (base.skip) {
        skipped.push({ case: c.name, reason: base.skip });
        console.error(`skipping ${c.name}: ${base.skip}`);
        continue;
      }
      const paths = await prepareCase(c, opt['cache-dir'], base);
      const row = Object.fromEntries(scenarios.map((s) => [s, Object.fromEntries(tools.map((t) => [t.name, []]))]));
      for (let run = 0; run < runs; run++) {
        const order = run % 2 === 0 ? tools : [...tools].reverse();
        for (const tool of order) {
          await tool.wipe();
          // A failure is reported and leaves a gap in the table; the rest of the run goes on.
          const time = async (scenario, argv) => {
            try {
              const m = await measure(argv, { timeFile, cwd: work, signal });
              if (scenarios.includes(scenario)) row[scenario][tool.name].push(m);
              console.error(`${c.name} run ${run + 1}/${runs} ${tool.name} ${scenario}: ${fmt(m.seconds)} s, ${fmt(m.rssMiB, 0)} MiB`);
              return true;
            } catch (err) {
              if (signal.aborted) throw err;
              failures.push(`${c.name} ${tool.name} ${scenario}: ${err.message.split('\n').slice(0, 3).join(' / ')}`);
              console.error(`${c.name} run ${run + 1}/${runs} ${tool.name} ${scenario} FAILED: ${err.message}`);
              return false;
            }
          };
          // cold: empty store, the base given from an OCI layout; the rest builds on what cold left.
          if (!(await time('cold', tool.build(paths, base)))) continue;
          if (scenarios.includes('no-change')) await time('no-change', tool.build(paths, base));
          if (scenarios.includes('one-file-changed')) {
            await writeFile(join(paths.ctx, LATE_FILE), `late ${tool.name} ${run + 1}\n`);
            await time('one-file-changed', tool.build(paths, base));
          }
          if (scenarios.includes('export-oci')) {
            const dest = join(work, `oci-${tool.name}`);
            await rm(dest, { recursive: true, force: true });
            await time('export-oci', tool.exportOci(dest));
            await rm(dest, { recursive: true, force: true });
          }
          if (scenarios.includes('push')) await time('push', tool.push(`${tool.name}-${c.name}-${run + 1}`));
        }
      }
      for (const tool of tools) await tool.wipe();
      results.push({ case: c, row });
      if (['small-files', 'big-file'].includes(c.name)) floors.push(await measureFloor(c, paths, work, timeFile, signal));
    }
  } finally {
    registry.stop();
    for (const tool of tools) await tool.wipe();
    await rm(work, { recursive: true, force: true });
  }
  const machine = {
    date: startedAt.toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    nproc: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    buildah: (spawnSync('buildah', ['--version'], { encoding: 'utf8' }).stdout ?? '').trim().replace('buildah version ', '').split(' ')[0],
    driver,
    runs,
    loadBefore: loadBefore.map((x) => x.toFixed(1)).join(' '),
    loadAfter: loadavg().map((x) => x.toFixed(1)).join(' '),
  };
  const report = renderReport({ machine, results, floors, skipped, failures });
  process.stdout.write(report);
  if (opt.json) await writeFile(opt.json, JSON.stringify({ machine, results: results.map((r) => ({ case: r.case.name, row: r.row })), floors, skipped }, null, 2));
  if (opt['write-readme']) await writeReadme(report);
}

async function measureFloor(c, paths, work, timeFile, signal) {
  const out = { case: c.name, figures: {} };
  for (const f of floorCommands(paths.ctx, join(work, 'cp-scratch'))) {
    const xs = [];
    for (let i = 0; i < runs; i++) {
      if (f.scratch) await rm(f.scratch, { recursive: true, force: true });
      xs.push((await measure(f.argv, { timeFile, signal })).seconds);
      if (f.scratch) await rm(f.scratch, { recursive: true, force: true });
    }
    out.figures[f.name] = median(xs);
  }
  const commits = [];
  for (let i = 0; i < runs; i++) {
    const store = join(work, 'commit-store');
    await rm(store, { recursive: true, force: true });
    await mkdir(store, { recursive: true });
    const m = await measure([process.execPath, join(repo, 'bench/commit-layer.mjs'), paths.ctx, store], { timeFile, signal });
    commits.push(m);
    await rm(store, { recursive: true, force: true });
  }
  // The commit as commit-layer.mjs times it around commitLayer(); the whole process (Node's
  // start-up and module loading too) is shown beside it.
  out.figures['tsbuild layer commit'] = median(commits.map((m) => JSON.parse(m.stdout).seconds));
  out.commitProcessSeconds = median(commits.map((m) => m.seconds));
  out.commitRssMiB = median(commits.map((m) => m.rssMiB));
  console.error(`${c.name} floor: ${Object.entries(out.figures).map(([k, v]) => `${k} ${fmt(v)} s`).join(', ')}`);
  return out;
}

function renderReport({ machine, results, floors, skipped, failures }) {
  const lines = [];
  lines.push(`Machine: ${machine.nproc} CPUs, ${machine.memGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, buildah ${machine.buildah} (root, --storage-driver ${machine.driver}); ${machine.date}; median of ${machine.runs} runs; load average ${machine.loadBefore} before, ${machine.loadAfter} after.`);
  lines.push('');
  lines.push('| case | scenario | tsbuild s | buildah s | ratio | target | tsbuild peak RSS MiB | buildah peak RSS MiB |');
  lines.push('|---|---|---:|---:|---:|---|---:|---:|');
  for (const { case: c, row } of results) {
    for (const [scenario, byTool] of Object.entries(row)) {
      const t = median(byTool.tsbuild.map((m) => m.seconds));
      const b = median(byTool.buildah.map((m) => m.seconds));
      const ratio = t / b;
      const target = TARGETS[scenario];
      const verdict = target === undefined ? '' : `≤ ${target} ${ratio <= target ? 'met' : '**not met**'}`;
      lines.push(`| ${c.title} | ${scenario} | ${fmt(t)} | ${fmt(b)} | ${fmt(ratio)} | ${verdict} | ${fmt(median(byTool.tsbuild.map((m) => m.rssMiB)), 0)} | ${fmt(median(byTool.buildah.map((m) => m.rssMiB)), 0)} |`);
    }
  }
  for (const s of skipped) lines.push(`| ${s.case} | skipped | | | | ${s.reason} | | |`);
  if (floors.length) {
    const names = Object.keys(floors[0].figures);
    lines.push('');
    lines.push(`| floor on the same context (s) | ${names.map((n) => n.replaceAll('|', '\\|')).join(' | ')} | commit ÷ gzip -1 floor (target ≤ 1.5) | commit process, Node start-up included (s) | commit peak RSS MiB |`);
    lines.push(`|---|${names.map(() => '---:').join('|')}|---:|---:|---:|`);
    for (const f of floors) {
      const ratio = f.figures['tsbuild layer commit'] / f.figures['tar | gzip -1 | sha256sum'];
      lines.push(`| ${f.case} | ${names.map((n) => fmt(f.figures[n])).join(' | ')} | ${fmt(ratio)} ${ratio <= 1.5 ? 'met' : '**not met**'} | ${fmt(f.commitProcessSeconds)} | ${fmt(f.commitRssMiB, 0)} |`);
    }
  }
  if (failures.length) lines.push('', 'Failed runs (left out of the medians):', ...failures.map((f) => `- ${f}`));
  return `${lines.join('\n')}\n`;
}

async function writeReadme(report) {
  const file = join(repo, 'README.md');
  const text = await readFile(file, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README.md has no ${start} … ${end} section`);
  await writeFile(file, `${text.slice(0, a + start.length)}\n${report}${text.slice(b)}`);
  console.error('README.md benchmark section updated');
}

await main();
