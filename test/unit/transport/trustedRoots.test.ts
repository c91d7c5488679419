import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { extraCaOptions } from '../../../src/transport/trustedRoots.js';
import { makeTempDir } from '../../helpers/tmp.js';

// One of Node's own roots stands in for a company CA: any well-formed PEM block will do.
const pem = rootCertificates[0] as string;

describe('extraCaOptions (TSBUILD_EXTRA_CA_CERTS, handed over from NODE_EXTRA_CA_CERTS by bin/tsbuild)', () => {
  it("adds the file's certificates to Node's roots", async () => {
    const file = join(await makeTempDir('tsbuild-ca'), 'company.pem');
    await writeFile(file, `# a bundle\n${pem}\n${pem}\n`);
    const { ca } = extraCaOptions({ TSBUILD_EXTRA_CA_CERTS: file }, () => expect.fail('no warning expected'));
    expect(ca).toHaveLength(rootCertificates.length + 2);
    expect(ca?.slice(0, rootCertificates.length)).toEqual([...rootCertificates]);
    expect(ca?.at(-1)).toBe(pem);
  });

  it("leaves Node's default store alone when the variable is unset", () => {
    expect(extraCaOptions({})).toEqual({});
  });

  it('skips a missing or certificate-less file with one warning naming it, as Node does', async () => {
    const dir = await makeTempDir('tsbuild-ca');
    const warnings: string[] = [];
    expect(extraCaOptions({ TSBUILD_EXTRA_CA_CERTS: join(dir, 'missing.pem') }, (m) => warnings.push(m))).toEqual({});
    await writeFile(join(dir, 'empty.pem'), 'not a certificate\n');
    expect(extraCaOptions({ TSBUILD_EXTRA_CA_CERTS: join(dir, 'empty.pem') }, (m) => warnings.push(m))).toEqual({});
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/^warning: ignoring extra CA certificates from .*missing\.pem \(NODE_EXTRA_CA_CERTS\): ENOENT/);
    expect(warnings[1]).toContain('empty.pem (NODE_EXTRA_CA_CERTS): no PEM certificate in it');
  });
});
