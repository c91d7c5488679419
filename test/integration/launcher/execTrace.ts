/**
 * The programs a command executed, as `strace -f -e trace=execve` records them: how the launcher
 * tests count Node start-ups and read the command lines they were given.
 */
import { basename } from 'node:path';

/** Prefix of a traced command: `[...STRACE_EXECS, TRACE_FILE, CMD, ...ARGS]`. */
export const STRACE_EXECS = ['strace', '-f', '-qq', '-s', '4096', '-e', 'trace=execve', '-o'];

export interface Exec {
  pid: number;
  path: string;
  argv: string[];
}

/** The execve calls that succeeded, in order. */
export function execs(trace: string): Exec[] {
  const out: Exec[] = [];
  for (const m of trace.matchAll(/^(\d+) +execve\("([^"]*)", \[(.*)\], .*\) = 0$/gm)) {
    const argv = [...(m[3] as string).matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) => a[1] as string);
    out.push({ pid: Number(m[1]), path: m[2] as string, argv });
  }
  return out;
}

/** The Node processes among them. */
export function nodeStarts(trace: string): Exec[] {
  return execs(trace).filter((e) => basename(e.path) === 'node');
}
