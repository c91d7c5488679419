import { TsbuildError, type TsbuildErrorOptions } from '../errors.js';
import { redact } from './registryAuth.js';

export type Op = 'pull' | 'push';

/** A registry failure another attempt may cure (429, 5xx, a reset or stalled connection). */
export class TransientRegistryError extends TsbuildError {
  constructor(message: string, options: TsbuildErrorOptions = {}) {
    super('REGISTRY_HTTP', message, options);
  }
}

export function imageName(repo: { registry: string; repository: string }, reference: string): string {
  return `${repo.registry}/${repo.repository}${reference.includes(':') ? '@' : ':'}${reference}`;
}

export function authError(op: Op, what: string, registry: string, status = 401): TsbuildError {
  const doing = `${op === 'push' ? 'pushing' : 'pulling'} ${what} ${op === 'push' ? 'to' : 'from'} ${registry}`;
  if (status === 403) {
    return new TsbuildError('REGISTRY_AUTH', `${doing}: access denied (HTTP 403: the credentials are valid but not allowed to ${op} here)`, {
      hint: `check that your account has ${op} rights on this repository, or log in as another user with \`tsbuild login ${registry}\``,
    });
  }
  return new TsbuildError('REGISTRY_AUTH', `${doing}: access denied`, {
    hint: `log in with \`tsbuild login ${registry}\` or add credentials to ~/.docker/config.json ($DOCKER_CONFIG) or $REGISTRY_AUTH_FILE; also check that the repository exists`,
  });
}

/** The registry's own explanation, `errors[0].message`, when the body is the spec's JSON. */
export function registryErrorMessage(body: string): string | undefined {
  try {
    const json = JSON.parse(body) as { errors?: Array<{ message?: unknown; code?: unknown }> };
    const first = json.errors?.[0];
    const msg = typeof first?.message === 'string' && first.message !== '' ? first.message : first?.code;
    return typeof msg === 'string' ? redact(msg) : undefined;
  } catch {
    return undefined;
  }
}
