/**
 * The oclif face of `tsbuild build`, for `tsbuild build --help`, the help listing and completion.
 * A build itself normally starts through the lean path (cli/leanBuild.ts), which skips oclif's
 * Config; both parse against BUILD_FLAGS and run buildFromFlags.
 */
import { Command } from '@oclif/core';
import { BUILD_ARGS, BUILD_FLAGS } from './buildFlags.js';
import { buildFromFlags } from './buildFromFlags.js';

export { envEpoch } from './buildFromFlags.js';
export { parseKeyValues } from './parseKeyValues.js';

export class BuildCommand extends Command {
  static override summary = 'Build an image from a Dockerfile (the default command)';
  static override description = 'Builds with no daemon and no root: RUN steps run in a rootless namespace sandbox on overlay snapshots.';
  static override examples = [
    '<%= config.bin %> -t app:1 .',
    '<%= config.bin %> build -t app:1 -o type=oci,dest=out,tar=false .',
    '<%= config.bin %> build -f docker/Dockerfile --target runtime --build-arg VERSION=2 .',
  ];

  static override args = BUILD_ARGS;
  static override flags = BUILD_FLAGS;

  async run(): Promise<void> {
    const { args, flags } = await this.parse(BuildCommand);
    await buildFromFlags(flags, args);
  }
}
