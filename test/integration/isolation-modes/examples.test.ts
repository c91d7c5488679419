/**
 * The deployment examples: the Kubernetes Job validates against the Kubernetes API schema (the
 * JSON schemas kubernetes-models generates from the published OpenAPI spec, checked with ajv),
 * the CI files are valid YAML that run tsbuild, and tsbuild's own Dockerfile passes --check.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { repoRoot, runTsbuild } from '../../helpers/tsbuild.js';

const examples = join(repoRoot(), 'examples');

interface JobDoc {
  kind: string;
  spec: { template: { spec: { securityContext: Record<string, unknown>; containers: Array<{ args: string[]; env: Array<{ name: string; value: string }>; securityContext: Record<string, unknown>; volumeMounts: Array<{ name: string; mountPath: string }> }>; volumes: Array<{ name: string; secret?: { secretName: string; items: Array<{ path: string }> } }> } } };
}

describe('examples', () => {
  it('the Kubernetes Job is valid against the Job/Pod schema, unprivileged, default seccomp, with registry auth and a remote cache', async () => {
    const docs = parseAllDocuments(await readFile(join(examples, 'k8s', 'tsbuild-job.yaml'), 'utf8')).map((d) => d.toJS() as JobDoc);
    expect(docs.map((d) => d.kind)).toEqual(['Job']);
    const job = docs[0]!;
    expect(() => new Job(job as never).validate()).not.toThrow();

    const pod = job.spec.template.spec;
    const container = pod.containers[0]!;
    expect(pod.securityContext['seccompProfile']).toEqual({ type: 'RuntimeDefault' });
    expect(container.securityContext['privileged']).toBe(false);
    expect(container.securityContext['allowPrivilegeEscalation']).toBe(false);
    expect(JSON.stringify(container.securityContext)).not.toContain('SYS_ADMIN');
    const dockerConfig = container.env.find((e) => e.name === 'DOCKER_CONFIG')!.value;
    const authMount = container.volumeMounts.find((m) => m.mountPath === dockerConfig)!;
    expect(pod.volumes.find((v) => v.name === authMount.name)?.secret?.items[0]?.path).toBe('config.json');
    expect(container.args).toEqual(expect.arrayContaining(['build', '--isolation=auto']));
    expect(container.args.some((a) => a.startsWith('--cache-to=type=registry'))).toBe(true);
    expect(container.args.some((a) => a.startsWith('--cache-from=type=registry'))).toBe(true);

    // The schema check is real: a wrongly typed field is refused.
    const broken = structuredClone(job);
    broken.spec.template.spec.securityContext['runAsNonRoot'] = 'no';
    expect(() => new Job(broken as never).validate()).toThrow(/runAsNonRoot must be boolean/);
  });

  it('the GitLab CI and GitHub Actions jobs are YAML that build with tsbuild', async () => {
    const gitlab = parse(await readFile(join(examples, 'ci', 'gitlab-ci.yml'), 'utf8')) as Record<string, { script: string[] }>;
    expect(gitlab['build-image']!.script.join('\n')).toMatch(/tsbuild build[\s\S]*--cache-to/);
    const github = parse(await readFile(join(examples, 'ci', 'github-actions.yml'), 'utf8')) as { jobs: { build: { steps: Array<{ run?: string }> } } };
    expect(github.jobs.build.steps.map((s) => s.run ?? '').join('\n')).toMatch(/tsbuild build --progress plain/);
  });

  it("tsbuild's own Dockerfile passes tsbuild build --check", async () => {
    const res = await runTsbuild(['build', '--check', '-f', join(examples, 'tsbuild', 'Dockerfile'), repoRoot()]);
    expect(res.code, res.stderr + res.stdout).toBe(0);
  });
});
