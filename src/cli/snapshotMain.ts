/**
 * The entry of tsbuild's start-up snapshot (native/snapshot.mjs): bundled with everything a build
 * can load and run once under `node --build-snapshot`, so the modules are already evaluated when
 * bin/tsbuild starts a build with `node --snapshot-blob native/build/tsbuild.blob build ARGS`. A
 * no-change rebuild is mostly Node start-up and module loading; from the snapshot it is neither.
 *
 * Only `build` (the default command included) runs from the snapshot: anything else (bake,
 * --help) goes to bin/run.js, which the launcher would have chosen in the first place.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startupSnapshot } from 'node:v8';
import { statSync } from 'node:fs';
import { isatty } from 'node:tty';
import { answerFromMemo, type MemoIdentity } from './buildMemo.js';
import { formatError } from './formatError.js';
import { main, wantsHelp, withDefaultCommand } from './main.js';
// What a build loads with `await import()` is evaluated now, into the snapshot.
import './leanBuild.js';
import './buildOutputs.js';
import './runCheck.js';
import './registryFlags.js';
import '../cache/cacheTransfer.js';
import '../isolation/copyRuntime.js';
import '../isolation/runtime.js';
import '../isolation/noneRuntime.js';
import '../layer/commitLayer.js';
import '../layer/extractLayer.js';
import '../transport/exportImage.js';
import '../transport/registrySource.js';

declare global {
  // import.meta.url in the snapshot bundle (native/snapshot.mjs defines it): a file two levels
  // below the package root, as every dist/ module is.
  var __tsbuildModuleUrl: string | undefined;
}

/** The blob this process started from (absolute). */
function blobPath(): string {
  const i = process.execArgv.indexOf('--snapshot-blob');
  const blob = process.execArgv[i + 1];
  if (i < 0 || blob === undefined) throw new Error('tsbuild snapshot: started without --snapshot-blob');
  return resolve(blob);
}

/** The package root, from the blob's path: ROOT/native/build/tsbuild.blob. */
function packageRoot(): string {
  return resolve(dirname(blobPath()), '..', '..');
}

/** An unexpected failure while answering from the record: one formatted message, exit code set. */
function reportAndFail(err: unknown): false {
  const { text, exitCode } = formatError(err, { debug: false });
  process.stderr.write(text);
  process.exitCode = exitCode;
  return false;
}

/** This invocation's identity for the build record; undefined if the blob cannot be stat'ed. */
function memoIdentity(argv: readonly string[]): MemoIdentity | undefined {
  const blob = blobPath();
  const st = statSync(blob, { bigint: true, throwIfNoEntry: false });
  if (!st) return undefined;
  return {
    code: `${blob}:${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`,
    argv,
    cwd: process.cwd(),
    env: process.env,
    uid: process.getuid?.() ?? -1,
    ttys: [0, 1, 2].map((fd) => (isatty(fd) ? 't' : '-')).join(''),
  };
}

startupSnapshot.setDeserializeMainFunction(() => {
  const root = packageRoot();
  globalThis.__tsbuildModuleUrl = pathToFileURL(join(root, 'dist', 'snapshot', 'main.js')).href;
  const argv = process.argv.slice(1);
  // A build that must start itself again (in the namespace, or outside it) does so through run.js.
  process.argv.splice(1, 0, join(root, 'bin', 'run.js'));
  const full = withDefaultCommand(argv);
  if (full[0] === 'build' && !wantsHelp(full)) {
    // A build that succeeded has awaited everything it started, and stdout/stderr are
    // synchronous here (Linux pipes, files, terminals): exiting at once spares Node's heap
    // teardown (~15 ms). A failed one may still be cleaning up after aborted stages: it ends
    // when that is done.
    // An unchanged rebuild is answered from its record (cli/buildMemo.ts) before anything else.
    const memo = memoIdentity(full.slice(1));
    void (async () => {
      if (memo && (await answerFromMemo(memo, { stdout: process.stdout, stderr: process.stderr }).catch(reportAndFail))) process.exit(0);
      if (process.exitCode) return;
      await main(argv, memo ? { memo } : {});
      if (!process.exitCode) process.exit(0);
    })();
    return;
  }
  const r = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit' });
  if (r.signal) process.kill(process.pid, r.signal);
  process.exitCode = r.status ?? 1;
});
