import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler, type IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  ConfigMap,
  Secret,
  Service,
  type IConfigMap,
  type IContainer,
  type ISecret,
  type IService,
} from 'kubernetes-models/v1';
import { pino } from 'pino';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/run-cli.js';
import { envSchema, parseEnv } from '../../src/config/index.js';
import { readLoggingConfig } from '../../src/logging/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, REPO_ROOT } from '../support/artifacts.js';
import { ManualSchedule } from '../support/manual-schedule.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { hang, jsonBody, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';

/**
 * deploy/kubernetes, checked without a cluster: every object against the Kubernetes 1.27 schema
 * (kubernetes-models: types and required fields), and what ties the objects to each other and to
 * the program: selectors, the probes' routes on the real proxy, the env names the config parser
 * knows, the logging YAML the logging parser accepts, the grace period against the drain bound.
 * Where kubectl is installed, its kustomize renders the directory and the same checks run on that.
 */

const K8S_DIR = join(REPO_ROOT, 'deploy', 'kubernetes');
const NOISE_SECRET_ENV = 'noise-secret.env';

const kustomizationSchema = z.object({
  apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
  kind: z.literal('Kustomization'),
  resources: z.array(z.string()),
  configMapGenerator: z.array(z.object({ name: z.string(), files: z.array(z.string()) })),
  secretGenerator: z.array(z.object({ name: z.string(), envs: z.array(z.string()) })),
  images: z.array(z.object({ name: z.string(), newName: z.string().optional(), newTag: z.string().optional() })),
});
type Kustomization = z.infer<typeof kustomizationSchema>;

const typeMeta = z.object({ apiVersion: z.string(), kind: z.string(), metadata: z.object({ name: z.string() }) });
type TypeMeta = z.infer<typeof typeMeta>;

interface Objects {
  deployment: Deployment;
  service: Service;
  hpa: HorizontalPodAutoscaler;
  pdb: PodDisruptionBudget;
  configMap: ConfigMap;
  secret: Secret;
  all: TypeMeta[];
}

function readKustomization(dir: string): Kustomization {
  return kustomizationSchema.parse(parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')));
}

/** The KEY=VALUE lines of a kustomize `envs` file. */
function parseEnvFile(text: string): Record<string, string> {
  const lines = text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#'));
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

/** What `kubectl apply -k` would send, short of kustomize's name hashes and label additions. */
function loadObjects(dir: string, noiseSecretEnv: string): unknown[] {
  const kustomization = readKustomization(dir);
  const resources = kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => doc.toJS() as unknown),
  );
  const configMaps = kustomization.configMapGenerator.map((generator) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: generator.name },
    data: Object.fromEntries(generator.files.map((file) => [basename(file), readFileSync(join(dir, file), 'utf8')])),
  }));
  const secrets = kustomization.secretGenerator.map((generator) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: generator.name },
    stringData: Object.assign(
      {},
      ...generator.envs.map((file) => {
        expect(file).toBe(NOISE_SECRET_ENV);
        return parseEnvFile(noiseSecretEnv);
      }),
    ) as Record<string, string>,
  }));
  return [...resources, ...configMaps, ...secrets];
}

/** Validates every object against its kind's schema (throws naming the field) and sorts them by kind. */
function validated(raw: unknown[]): Objects {
  const all = raw.map((object) => typeMeta.parse(object));
  const one = <T>(apiVersion: string, kind: string): T => {
    const matches = raw.filter((_, i) => all[i]!.apiVersion === apiVersion && all[i]!.kind === kind);
    expect(matches, `${apiVersion} ${kind}`).toHaveLength(1);
    return matches[0] as T; // checked by the model's validate() right below
  };
  const objects: Objects = {
    deployment: new Deployment(one<IDeployment>('apps/v1', 'Deployment')),
    service: new Service(one<IService>('v1', 'Service')),
    hpa: new HorizontalPodAutoscaler(one<IHorizontalPodAutoscaler>('autoscaling/v2', 'HorizontalPodAutoscaler')),
    pdb: new PodDisruptionBudget(one<IPodDisruptionBudget>('policy/v1', 'PodDisruptionBudget')),
    configMap: new ConfigMap(one<IConfigMap>('v1', 'ConfigMap')),
    secret: new Secret(one<ISecret>('v1', 'Secret')),
    all,
  };
  for (const model of [
    objects.deployment,
    objects.service,
    objects.hpa,
    objects.pdb,
    objects.configMap,
    objects.secret,
  ])
    model.validate();
  return objects;
}

const EXAMPLE_NOISE_SECRET = `SGP_NOISE_SECRET=${'ab'.repeat(32)}\n`;

function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

function container(objects: Objects): IContainer {
  const containers = objects.deployment.spec!.template.spec!.containers;
  expect(containers).toHaveLength(1);
  return containers[0]!;
}

/** Kubernetes resource quantities as numbers: cores for cpu ("500m", "2"), bytes for memory ("512Mi"). */
function quantity(value: string | number | undefined): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(String(value));
  if (match === null) throw new Error(`not a quantity: ${value}`);
  const units: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };
  return Number(match[1]) * (match[2] === undefined ? 1 : units[match[2]]!);
}

/** The env the container gets, secrets resolved from the Secret the manifests make. */
function containerEnv(objects: Objects): Record<string, string> {
  const secretData = objects.secret.stringData ?? {};
  return Object.fromEntries(
    (container(objects).env ?? []).map((variable) => {
      const ref = variable.valueFrom?.secretKeyRef;
      if (ref === undefined) return [variable.name, variable.value ?? ''];
      expect(ref.name).toBe(objects.secret.metadata!.name);
      expect(ref.optional ?? false, `${variable.name} must not silently go missing`).toBe(false);
      return [
        variable.name,
        secretData[ref.key] ?? Buffer.from(objects.secret.data?.[ref.key] ?? '', 'base64').toString(),
      ];
    }),
  );
}

function volumeMountedAt(objects: Objects, path: string) {
  const mount = container(objects).volumeMounts?.find((m) => m.mountPath === path);
  expect(mount, `a volume mounted at ${path}`).toBeDefined();
  return {
    mount: mount!,
    volume: objects.deployment.spec!.template.spec!.volumes?.find((v) => v.name === mount!.name),
  };
}

function dockerfileLine(pattern: RegExp): RegExpExecArray {
  const match = pattern.exec(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  expect(match, String(pattern)).not.toBeNull();
  return match!;
}

/** The checks, on the objects as loaded from the sources or as kubectl kustomize rendered them. */
function structuralChecks(load: () => Objects): void {
  it('holds a Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, ConfigMap and Secret, each valid', () => {
    const kinds = load()
      .all.map((o) => o.kind)
      .sort();
    expect(kinds).toEqual([
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'Secret',
      'Service',
    ]);
  });

  it('the Service, the budget, the autoscaler and the spread constraint all select the Deployment’s pods', () => {
    const objects = load();
    const { deployment, service, pdb, hpa } = objects;
    const podLabels = deployment.spec!.template.metadata!.labels!;
    const selects = (labels: Record<string, string> | undefined): void => {
      expect(labels).toBeDefined();
      expect(Object.keys(labels!).length).toBeGreaterThan(0);
      expect(podLabels).toMatchObject(labels!);
    };
    selects(deployment.spec!.selector.matchLabels);
    selects(service.spec!.selector);
    selects(pdb.spec!.selector!.matchLabels);
    for (const spread of deployment.spec!.template.spec!.topologySpreadConstraints ?? [])
      selects(spread.labelSelector?.matchLabels);
    expect(hpa.spec!.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata!.name,
    });
    // A fixed count in the Deployment would fight the autoscaler on every apply.
    expect(deployment.spec!.replicas).toBeUndefined();
    // At the autoscaler's minimum, a node drain still leaves a pod serving.
    expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec!.minReplicas! - Number(pdb.spec!.maxUnavailable)).toBeGreaterThanOrEqual(1);
    expect(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    // The Service's target port is the container's named port, the one the proxy listens on.
    const ports = container(objects).ports ?? [];
    const target = service.spec!.ports![0]!.targetPort;
    expect(ports.map((p) => p.name)).toContain(target);
  });

  it('runs as the image’s non-root user, read-only root filesystem, no capabilities, no API token', () => {
    const objects = load();
    const pod = objects.deployment.spec!.template.spec!;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext!.runAsUser).toBeGreaterThan(0);
    expect(String(pod.securityContext!.runAsUser)).toBe(dockerfileLine(/^USER (\d+)(?::\d+)?$/m)[1]);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container(objects).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('writes only to its cache directory, an emptyDir named by SGP_CACHE_DIR', () => {
    const objects = load();
    const { mount, volume } = volumeMountedAt(objects, containerEnv(objects).SGP_CACHE_DIR!);
    expect(volume?.emptyDir).toBeDefined();
    expect(mount.readOnly ?? false).toBe(false);
    // Every other mount is read-only: the root filesystem is, so nothing else can be written.
    const others = (container(objects).volumeMounts ?? []).filter((m) => m !== mount);
    expect(others.every((m) => m.readOnly === true)).toBe(true);
  });

  it('requests and limits cpu and memory, limits at least the requests', () => {
    const { requests, limits } = container(load()).resources ?? {};
    for (const resource of ['cpu', 'memory']) {
      expect(quantity(requests?.[resource])).toBeGreaterThan(0);
      expect(quantity(limits?.[resource])).toBeGreaterThanOrEqual(quantity(requests?.[resource]));
    }
    // The proxy's measured resident set with the demo SGT is about 350–500 MiB (README, Benchmarks).
    expect(quantity(limits?.memory)).toBeGreaterThanOrEqual(768 * 2 ** 20);
  });

  it('sets only variables the config parser knows, and the parser accepts the values', () => {
    const objects = load();
    const known = new Set(Object.keys(envSchema.shape));
    const env = containerEnv(objects);
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
    const parsed = parseEnv(env);
    expect(container(objects).ports).toContainEqual(expect.objectContaining({ containerPort: parsed.SGP_PORT }));
    expect(Number(dockerfileLine(/^EXPOSE (\d+)$/m)[1])).toBe(parsed.SGP_PORT);
    expect(parsed.SGP_NOISE_SECRET).toBe('ab'.repeat(32));
    // Secrets come from the Secret, never inline in the manifest.
    for (const variable of container(objects).env ?? []) {
      if (/SECRET|PASSWORD|API_KEY/.test(variable.name))
        expect(variable.valueFrom?.secretKeyRef, variable.name).toBeDefined();
    }
  });

  it('mounts the logging ConfigMap where SGP_LOGGING_CONFIG_FILE points, and the logging parser accepts it', () => {
    const objects = load();
    const file = containerEnv(objects).SGP_LOGGING_CONFIG_FILE!;
    const { mount, volume } = volumeMountedAt(objects, posix.dirname(file));
    expect(mount.readOnly).toBe(true);
    expect(volume?.configMap?.name).toBe(objects.configMap.metadata!.name);
    const yamlText = objects.configMap.data?.[posix.basename(file)];
    expect(yamlText).toBeDefined();
    const copy = join(mkdtempSync(join(tmpdir(), 'sgp-k8s-logging-')), 'logging.yaml');
    writeFileSync(copy, yamlText!);
    // A cluster's log collector reads the container's stdout.
    expect(readLoggingConfig(copy)).toMatchObject({ destination: 'stdout', level: 'info' });
  });

  it('gives the pod longer than the preStop pause and the drain bound before SIGKILL', () => {
    const objects = load();
    const preStop = container(objects).lifecycle?.preStop?.exec?.command;
    expect(preStop?.[0]).toBe('sleep');
    const pauseSeconds = Number(preStop?.[1]);
    expect(pauseSeconds).toBeGreaterThan(0);
    const grace = objects.deployment.spec!.template.spec!.terminationGracePeriodSeconds!;
    // Room after the bound for closing the SGT session and exiting (the real process: graceful-shutdown.test.ts).
    expect(grace).toBeGreaterThanOrEqual(pauseSeconds + SHUTDOWN_GRACE_MS / 1000 + 5);
  });

  it('probes /livez for start-up and liveness, /readyz for readiness, on the named port', () => {
    const c = container(load());
    const portNames = (c.ports ?? []).map((p) => p.name);
    expect(c.startupProbe?.httpGet?.path).toBe('/livez');
    expect(c.livenessProbe?.httpGet?.path).toBe('/livez');
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
      expect(portNames).toContain(probe?.httpGet?.port);
      expect(probe?.httpGet?.scheme ?? 'HTTP').toBe('HTTP');
    }
  });
}

describe('deploy/kubernetes', () => {
  // Loaded inside each test, so that a schema error fails the tests and names the field.
  const load = once(() => validated(loadObjects(K8S_DIR, EXAMPLE_NOISE_SECRET)));
  structuralChecks(load);

  it('takes the noise secret from a git-ignored file, never from the repository', () => {
    const generator = readKustomization(K8S_DIR).secretGenerator[0]!;
    expect(generator.name).toBe(load().secret.metadata!.name);
    const ignored = spawnSync('git', ['check-ignore', '-q', join('deploy', 'kubernetes', NOISE_SECRET_ENV)], {
      cwd: REPO_ROOT,
    });
    expect(ignored.status, 'git check-ignore deploy/kubernetes/noise-secret.env').toBe(0);
  });

  it('names the image the Dockerfile builds through the kustomization’s images entry', () => {
    const images = readKustomization(K8S_DIR).images;
    expect(images.map((i) => i.name)).toContain(container(load()).image);
  });

  describe('the probes’ routes on the real proxy', () => {
    let sgt: Sgt;
    let upstream: ScriptedUpstream;
    let proxy: ProxyUnderTest;
    const probes = new ManualSchedule();

    beforeAll(async () => {
      sgt = await loadSgt(DEMO_SGT_DIR);
      upstream = await startScriptedUpstream(jsonBody(200, {}));
      proxy = await startProxy({
        sgt,
        upstreamUrl: upstream.url,
        logger: pino({ level: 'silent' }),
        healthChecks: { schedule: probes.schedule },
      });
    });
    afterAll(async () => {
      await proxy.close();
      await upstream.close();
      await sgt.close();
    });

    it('every probe path answers 200 while the upstream is healthy', async () => {
      const c = container(load());
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
        const answer = await fetch(proxy.url + probe!.httpGet!.path);
        expect(answer.status, probe!.httpGet!.path).toBe(200);
      }
    });

    it('with the upstream hanging, readiness fails within its probe timeout and liveness still passes', async () => {
      upstream.setBehaviour(hang);
      await probes.fire(); // the proxy's own health probe of the upstream times out
      const c = container(load());
      const timeoutMs = c.readinessProbe!.timeoutSeconds! * 1000;
      const started = performance.now();
      const ready = await fetch(proxy.url + c.readinessProbe!.httpGet!.path, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      expect(ready.status).toBe(503);
      expect(performance.now() - started).toBeLessThan(timeoutMs);
      expect((await fetch(proxy.url + c.livenessProbe!.httpGet!.path)).status).toBe(200);
    });
  });
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
describe.skipIf(kubectl.status !== 0)('deploy/kubernetes as kubectl kustomize renders it', () => {
  const render = once((): Objects => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sgp-kustomize-')), 'kubernetes');
    cpSync(K8S_DIR, dir, { recursive: true });
    writeFileSync(join(dir, NOISE_SECRET_ENV), EXAMPLE_NOISE_SECRET);
    const yaml = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    const objects = parseAllDocuments(yaml).map(
      (doc) => doc.toJS() as { kind?: string; data?: Record<string, string> },
    );
    // kustomize wraps base64 at 70 columns; the API server's decoder skips the newlines, the schema's "byte" format does not.
    for (const object of objects.filter((o) => o.kind === 'Secret'))
      object.data = Object.fromEntries(Object.entries(object.data ?? {}).map(([k, v]) => [k, v.replace(/\s+/g, '')]));
    return validated(objects);
  });
  structuralChecks(render);

  it('hashes the generated names and points the Deployment at them', () => {
    const { deployment, secret, configMap } = render();
    expect(secret.metadata!.name).toMatch(/^sgt-proxy-noise-[a-z0-9]{10}$/);
    expect(configMap.metadata!.name).toMatch(/^sgt-proxy-logging-[a-z0-9]{10}$/);
    expect(deployment.spec!.template.spec!.containers[0]!.image).toMatch(/^sgt-proxy:\d+\.\d+\.\d+$/);
  });
});
if (kubectl.status !== 0) {
  console.warn('[deploy/kubernetes] kubectl is not installed: the kustomize rendering checks are skipped');
}
