/**
 * Where a build's Dockerfile comes from: `-f PATH`, `-f -` (stdin, as docker build), or
 * CONTEXT/Dockerfile.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { TsbuildError } from '../errors.js';

export interface DockerfileSource {
  text: string;
  /** As the user named it, for error locations. */
  name: string;
  /** Absolute path; undefined when read from stdin (no `<Dockerfile>.dockerignore` then). */
  path: string | undefined;
}

/** `stdin` is called only for `-f -` (creating process.stdin costs a few ms a build rarely needs). */
export async function readDockerfile(file: string | undefined, contextDir: string, stdin: () => Readable, signal?: AbortSignal): Promise<DockerfileSource> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin()) {
      signal?.throwIfAborted();
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    }
    return { text: Buffer.concat(chunks).toString('utf8'), name: 'Dockerfile', path: undefined };
  }
  const path = file ? resolve(file) : resolve(contextDir, 'Dockerfile');
  signal?.throwIfAborted();
  let text: string;
  try {
    // Synchronous: one small read on every build, where an async one is four thread-pool round trips.
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new TsbuildError('CONTEXT', `reading Dockerfile ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, {
      hint: file ? 'check the -f path (or use -f - to read it from stdin)' : 'add a Dockerfile to the context or pass -f PATH',
    });
  }
  return { text, name: file ?? 'Dockerfile', path };
}
