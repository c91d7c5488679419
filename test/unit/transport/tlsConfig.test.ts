import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { tlsAgentOptions } from '../../../src/transport/tlsConfig.js';
import { makeTempDir } from '../../helpers/tmp.js';

describe('certs.d TLS material', () => {
  it('adds a host directory\'s *.crt to the system roots and pairs NAME.cert with NAME.key', async () => {
    const base = await makeTempDir('tsbuild-certsd');
    await mkdir(join(base, 'reg.example:5000'));
    await writeFile(join(base, 'reg.example:5000', 'ca.crt'), 'CA-PEM');
    await writeFile(join(base, 'reg.example:5000', 'client.cert'), 'CERT-PEM');
    await writeFile(join(base, 'reg.example:5000', 'client.key'), 'KEY-PEM');
    const files = await tlsAgentOptions('reg.example:5000', [base]);
    expect(files?.ca.at(-1)).toBe('CA-PEM');
    expect(files?.ca.length).toBe(rootCertificates.length + 1);
    expect(files).toMatchObject({ cert: 'CERT-PEM', key: 'KEY-PEM' });
    // another port is another directory; a path is never looked up
    expect(await tlsAgentOptions('reg.example', [base])).toBeUndefined();
    expect(await tlsAgentOptions('../etc', [base])).toBeUndefined();
  });

  it('refuses a client certificate without its key', async () => {
    const base = await makeTempDir('tsbuild-certsd');
    await mkdir(join(base, 'h'));
    await writeFile(join(base, 'h', 'me.cert'), 'CERT');
    await expect(tlsAgentOptions('h', [base])).rejects.toMatchObject({ message: expect.stringContaining('missing key file me.key') });
  });
});
