/**
 * A private ssh-agent holding the key files given with `--ssh ID=KEY[,KEY...]`, so RUN
 * --mount=type=ssh gets an agent socket as with `--ssh ID=SOCKET`. The keys are read by
 * ssh-add only: they never pass through tsbuild, a layer, the cache key or the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TsbuildError } from '../errors.js';

export interface SshKeyAgent {
  /** The agent's socket, in a private (0700) temp dir. */
  readonly socket: string;
  /** Stops the agent and removes its dir; safe to call twice. */
  close(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;

interface Ran {
  code: number | null;
  stderr: string;
}

/**
 * Runs a helper with no terminal (setsid) and no askpass, so it can never prompt for a
 * passphrase: it fails instead.
 */
function runQuiet(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env, ...(signal ? { signal } : {}) });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(missingTool(cmd));
      else reject(err);
    });
    child.on('close', (code) => resolve({ code, stderr: stderr.trim() }));
  });
}

function missingTool(cmd: string): TsbuildError {
  return new TsbuildError('USAGE', `--ssh with key files needs ${cmd}, which is not installed`, {
    hint: 'install OpenSSH\'s client tools (Debian: apt-get install openssh-client), or pass an agent socket: --ssh ID=$SSH_AUTH_SOCK',
  });
}

/** The environment for ssh tools: no askpass, no display, nothing of the user's own agent. */
function quietEnv(socket?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', SSH_ASKPASS_REQUIRE: 'never' };
  if (process.env['HOME'] !== undefined) env['HOME'] = process.env['HOME'];
  if (socket !== undefined) env['SSH_AUTH_SOCK'] = socket;
  return env;
}

/** Refuses a key that is not a readable, unencrypted private key, before any agent starts. */
async function checkKey(id: string, key: string, signal?: AbortSignal): Promise<void> {
  const st = await stat(key).catch(() => undefined);
  if (!st?.isFile()) throw new TsbuildError('USAGE', `--ssh ${id}: ${key} is not a key file or an agent socket`, {
    hint: `pass --ssh ${id}=PATH with PATH an ssh-agent socket or a private key file (e.g. ~/.ssh/id_ed25519)`,
  });
  // -y derives the public key; with an empty -P it fails instead of asking for a passphrase.
  const r = await runQuiet('ssh-keygen', ['-y', '-P', '', '-f', key], quietEnv(), signal);
  if (r.code === 0) return;
  if (/passphrase/i.test(r.stderr)) {
    throw new TsbuildError('USAGE', `--ssh ${id}: the key ${key} is protected by a passphrase`, {
      hint: `tsbuild does not prompt: load it into your agent (ssh-add ${key}) and pass --ssh ${id}=$SSH_AUTH_SOCK`,
    });
  }
  throw new TsbuildError('USAGE', `--ssh ${id}: cannot use the key ${key}: ${r.stderr.split('\n').pop() ?? `ssh-keygen exited ${r.code}`}`, {
    hint: 'pass an OpenSSH private key file readable only by you (chmod 600), or an agent socket',
  });
}

async function waitForSocket(socket: string, agent: ChildProcess, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    if ((await stat(socket).catch(() => undefined))?.isSocket()) return;
    if (agent.exitCode !== null || agent.signalCode !== null) break;
    await sleep(20);
  }
  throw new TsbuildError('ISOLATION_SETUP', `starting ssh-agent for --ssh: no socket at ${socket}`, { hint: 'check that ssh-agent runs on this machine (ssh-agent -D)' });
}

/**
 * Starts an agent with these keys. It runs in the foreground (-D) as our child, and dies with
 * tsbuild even on SIGKILL: its stdin is a pipe from us, and a watcher ends it when the pipe closes.
 */
export async function startSshKeyAgent(id: string, keys: readonly string[], signal?: AbortSignal): Promise<SshKeyAgent> {
  for (const key of keys) await checkKey(id, key, signal);
  const dir = await mkdtemp(join(tmpdir(), 'tsbuild-ssh-'));
  await chmod(dir, 0o700);
  const socket = join(dir, 'agent.sock');
  // sh waits for our pipe to close (tsbuild ended, however), then stops the agent.
  // (sh gives background jobs /dev/null as stdin: the watcher reads our pipe through fd 3.)
  const script = 'exec 3<&0; ssh-agent -D -a "$1" >/dev/null 2>&1 </dev/null & pid=$!; (cat <&3 >/dev/null; kill $pid 2>/dev/null) & exec 3<&-; wait $pid';
  const agent = spawn('/bin/sh', ['-c', script, 'sh', socket], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
    env: quietEnv(),
  });
  agent.on('error', () => {}); // a spawn failure shows as no socket below
  // Neither the agent nor its pipe keeps tsbuild alive; close() or our exit ends them.
  agent.unref();
  (agent.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const exited = new Promise<void>((resolve) => agent.once('close', () => resolve()));
  let closed = false;
  const onExit = (): void => {
    agent.stdin?.destroy(); // the watcher then stops the agent, even as we exit
    rmSync(dir, { recursive: true, force: true }); // sync: an exit handler cannot wait
  };
  process.once('exit', onExit);
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    process.removeListener('exit', onExit);
    agent.stdin?.end();
    await Promise.race([exited, sleep(5_000)]);
    if (agent.exitCode === null && agent.signalCode === null && agent.pid !== undefined) {
      try {
        process.kill(-agent.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForSocket(socket, agent, signal).catch((err: unknown) => {
      throw agent.exitCode === 127 ? missingTool('ssh-agent') : err;
    });
    const added = await runQuiet('ssh-add', ['-q', ...keys], quietEnv(socket), signal);
    if (added.code !== 0) {
      throw new TsbuildError('USAGE', `--ssh ${id}: ssh-add could not load ${keys.join(', ')}: ${added.stderr.split('\n').pop() ?? ''}`, {
        hint: 'pass unencrypted OpenSSH private keys readable only by you (chmod 600), or an agent socket',
      });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { socket, close };
}

/** The agent sockets for RUN --mount=type=ssh, by id, and the private agents started for key files. */
export interface SshAgents {
  readonly sockets: ReadonlyMap<string, string>;
  /** Stops the private agents; call when the build ends, however it ends. */
  close(): Promise<void>;
}

/**
 * `--ssh` values resolved: one existing socket is forwarded as is (BuildKit's `ID=SOCKET`);
 * key files get a private agent each id (BuildKit's `ID=KEY[,KEY...]`).
 */
export async function openSshAgents(specs: ReadonlyMap<string, readonly string[]>, signal?: AbortSignal): Promise<SshAgents> {
  const sockets = new Map<string, string>();
  const started: SshKeyAgent[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(started.map((a) => a.close()));
  };
  try {
    for (const [id, paths] of specs) {
      const kinds = await Promise.all(paths.map(async (p) => (await stat(p).catch(() => undefined))?.isSocket() === true));
      const [first] = paths;
      if (paths.length === 1 && kinds[0] === true && first !== undefined) {
        sockets.set(id, first);
        continue;
      }
      if (kinds.some((k) => k)) {
        throw new TsbuildError('USAGE', `--ssh ${id}: give either one agent socket or key files, not both`, { hint: `e.g. --ssh ${id}=$SSH_AUTH_SOCK or --ssh ${id}=~/.ssh/id_ed25519` });
      }
      const agent = await startSshKeyAgent(id, paths, signal);
      started.push(agent);
      sockets.set(id, agent.socket);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { sockets, close };
}
