/**
 * What the crash, signal and concurrency tests share: start tsbuild as a user would (its own
 * process group), stop it at a named point or a random time, and look at what it left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import { resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tsbuildBin } from '../../helpers/tsbuild.js';

export interface Started {
  child: ChildProcess;
  /** Resolves with the exit code (128 + signal for a killed process). */
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** `node bin/run.js ...args` in its own process group, as a shell job would be. */
export function startTsbuild(args: readonly string[], env: Record<string, string>, cwd?: string): Started {
  const child = spawn(process.execPath, [tsbuildBin(), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(cwd ? { cwd } : {}),
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((res) => {
    child.on('close', (code, sig) =>
      res({
        code: code ?? 128 + (sig ? (constants.signals[sig] ?? 0) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
  });
  return { child, done };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, done?: Promise<unknown>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let finished = false;
  void done?.then(() => {
    finished = true;
  });
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (finished) throw new Error(`waiting for ${what}: the process exited first`);
    if (Date.now() > deadline) throw new Error(`waiting for ${what}: timed out`);
    await sleep(25);
  }
}

export async function fileText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').then(
    (t) => (t.length > 0 ? t : undefined),
    () => undefined,
  );
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits until the pid is gone (a zombie of ours counts as gone once reaped by its parent). */
export async function waitGone(pid: number, what: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(`${what} (pid ${pid}) to end`, async () => ((await isRunning(pid)) ? undefined : true), timeoutMs);
}

async function isRunning(pid: number): Promise<boolean> {
  const st = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (st === undefined) return false;
  // Field 3 (after "(comm)") is the state; Z = zombie, X = dead.
  const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Mount points on the host (this test's mount namespace) at or under `dir`. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const prefix = resolve(dir) + sep;
  const text = await readFile('/proc/self/mounts', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(prefix));
}

/** Pids of live processes whose command line contains `needle` (for "no step process survived"). */
export async function processesWith(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmd = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0').join(' ').includes(needle) && (await isRunning(Number(name)))) out.push(Number(name));
  }
  return out;
}

/** All files under `dir` whose names match, depth-first (for "the RUN has started"). */
export async function findUnder(dir: string, name: string, depth = 4): Promise<string | undefined> {
  if (depth < 0) return undefined;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (e.name === name) return `${dir}/${e.name}`;
    if (e.isDirectory()) {
      const hit = await findUnder(`${dir}/${e.name}`, name, depth - 1);
      if (hit) return hit;
    }
  }
  return undefined;
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
