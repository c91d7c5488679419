import { Args, Command } from '@oclif/core';
import { DOCKER_HUB } from '../image/reference.js';
import { removeCredentials } from '../transport/credentialStore.js';
import { normalizeRegistry } from './loginCommand.js';

export class LogoutCommand extends Command {
  static override summary = 'Remove the credentials stored for a registry';
  static override args = {
    registry: Args.string({ description: 'registry HOST[:PORT] (default: docker.io)' }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(LogoutCommand);
    const registry = normalizeRegistry(args.registry ?? DOCKER_HUB);
    const removed = await removeCredentials(registry);
    process.stderr.write(removed ? `Removing login credentials for ${registry}\n` : `Not logged in to ${registry}\n`);
  }
}
