/**
 * `tsbuild build ARGV` without oclif's Config: a no-change rebuild is mostly Node start-up, and
 * loading `@oclif/core` (Config, plugins, help) was the largest part of it. The argv is parsed by
 * oclif's own parser against the command's own table (BUILD_FLAGS), so flags, env-backed flags,
 * defaults and parse errors are exactly those of `BuildCommand`, which stays for help and completion.
 */
import * as Parser from '@oclif/core/parser';
import { BUILD_ARGS, BUILD_FLAGS } from './buildFlags.js';
import { buildFromFlags, type BuildFromFlagsOptions } from './buildFromFlags.js';
import { normalizeBooleanFlags } from './flagSuggest.js';

/** Parses a build's argv (after `build`) and runs the build; parse errors throw oclif's CLIError. */
export async function leanBuild(argv: readonly string[], opts: BuildFromFlagsOptions = {}): Promise<void> {
  const { args, flags } = await Parser.parse(normalizeBooleanFlags(argv, BUILD_FLAGS), { flags: BUILD_FLAGS, args: BUILD_ARGS, strict: true });
  await buildFromFlags(flags, args, opts);
}

