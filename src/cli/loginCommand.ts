import { Args, Command, Flags } from '@oclif/core';
import { TsbuildError } from '../errors.js';
import { DOCKER_HUB } from '../image/reference.js';
import { saveCredentials } from '../transport/credentialStore.js';
import { RegistryClient } from '../transport/registryClient.js';
import { withSignals } from './signals.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export class LoginCommand extends Command {
  static override summary = 'Log in to a registry (stores the credentials in the docker config, as docker login does)';
  static override examples = ['echo "$TOKEN" | <%= config.bin %> login -u ci --password-stdin registry.example.com'];
  static override args = {
    registry: Args.string({ description: 'registry HOST[:PORT] (default: docker.io)' }),
  };
  static override flags = {
    username: Flags.string({ char: 'u', description: 'user name' }),
    password: Flags.string({ char: 'p', description: 'password (insecure: visible to other processes; prefer --password-stdin)' }),
    'password-stdin': Flags.boolean({ description: 'read the password from stdin', default: false }),
    'insecure-registry': Flags.string({ description: 'HOST[:PORT] to reach over http or unverified TLS (repeatable)', multiple: true, multipleNonGreedy: true, default: [] }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(LoginCommand);
    const registry = normalizeRegistry(args.registry ?? DOCKER_HUB);
    if (!flags.username) throw new TsbuildError('USAGE', `logging in to ${registry}: a user name is needed`, { hint: 'pass -u USER --password-stdin' });
    if (flags.password !== undefined && flags['password-stdin']) throw new TsbuildError('USAGE', '--password and --password-stdin are mutually exclusive');
    let password = flags.password;
    if (flags['password-stdin']) password = (await readStdin()).replace(/\r?\n$/, '');
    if (password === undefined || password === '') {
      throw new TsbuildError('USAGE', `logging in to ${registry}: a password is needed`, { hint: 'pipe it in: ... | tsbuild login -u USER --password-stdin REGISTRY' });
    }
    if (flags.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    const creds = { username: flags.username, password };
    const client = new RegistryClient({ insecureRegistries: flags['insecure-registry'], credentials: async () => creds });
    try {
      await withSignals(async (signal) => {
        await client.checkLogin(registry, signal);
        const { path, helper } = await saveCredentials(registry, creds, { signal });
        process.stderr.write(`credentials saved ${helper ? `with docker-credential-${helper}` : `in ${path}`}\n`);
        process.stdout.write('Login Succeeded\n');
      });
    } finally {
      await client.close();
    }
  }
}

/** `https://host/v2/` and `host/` as people paste them → `host`; docker.io's spellings → docker.io. */
export function normalizeRegistry(text: string): string {
  const host = text.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (host === '' ) throw new TsbuildError('USAGE', `invalid registry "${text}"`);
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}
