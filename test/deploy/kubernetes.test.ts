// The Kubernetes shapes: the plain manifests (deploy/kubernetes), the Helm chart rendered by a
// real helm in both modes (deploy/helm/tlsotel), and the collector configuration that names pods
// from what the agent exports. Every object is validated against the Kubernetes API schema; the
// agent's security context grants exactly the capabilities the README lists (and src/util/caps.ts
// checks), and what the chart passes to the agent is what its own option parser accepts.
import test, { before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../helpers/procs';
import { REQUIRED_CAPS } from '../../src/util/caps';
import { parseFlags } from '../../src/cli/options';
import { readEnvironment } from '../../src/config';
import { resolveRunConfig } from '../../src/config/commands';
import { helmBinary, helmTemplate, readObjects, validateObject, type K8sObject } from './k8s-objects';

const CHART = path.join(ROOT, 'deploy/helm/tlsotel');
const MANIFESTS = path.join(ROOT, 'deploy/kubernetes');
let helm: string;

before(() => {
  helm = helmBinary();
});

/** The capability names the README's table lists, Kubernetes spelling (no CAP_ prefix). */
function readmeCapabilities(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### Capabilities');
  assert.ok(start >= 0, 'README has a "### Capabilities" section');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  return [...section.matchAll(/^\| `CAP_([A-Z_]+)` \|/gm)].map((m) => m[1]);
}

interface Container {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  securityContext?: Record<string, unknown> & { capabilities?: { add?: string[]; drop?: string[] } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: unknown[];
}
interface PodSpec { hostPID?: boolean; hostNetwork?: boolean; hostIPC?: boolean; shareProcessNamespace?: boolean; containers: Container[]; volumes?: unknown[]; securityContext?: Record<string, unknown> }

function podSpecOf(obj: K8sObject): PodSpec {
  const spec = obj.spec as { template?: { spec: PodSpec } } & PodSpec;
  return obj.kind === 'Pod' ? spec : spec.template!.spec;
}

/** The checks every agent container passes, in either mode. */
function checkAgentContainer(c: Container, where: string): void {
  const sc = c.securityContext ?? {};
  const expected = readmeCapabilities();
  assert.deepEqual(expected, REQUIRED_CAPS.map((r) => r.name.replace(/^CAP_/, '')), 'the README lists exactly what src/util/caps.ts checks');
  assert.deepEqual([...(sc.capabilities?.add ?? [])].sort(), [...expected].sort(), `${where}: adds exactly the README's capabilities`);
  assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: drops every other capability`);
  assert.notEqual(sc.privileged, true, `${where}: not privileged`);
  assert.equal(sc.runAsNonRoot, true, `${where}: not root`);
  assert.equal(sc.runAsUser, 65534);
  assert.equal(sc.allowPrivilegeEscalation, true, `${where}: file capabilities need privilege escalation allowed`);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.deepEqual(c.volumeMounts ?? [], [], `${where}: mounts nothing from the host`);
  for (const k of ['cpu', 'memory']) {
    assert.ok(c.resources?.requests?.[k] && c.resources?.limits?.[k], `${where}: ${k} request and limit`);
  }
  const env = new Map((c.env ?? []).map((e) => [e.name, e]));
  assert.equal(env.get('K8S_NODE_NAME')?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName', `${where}: node name from the downward API`);
  assert.match(env.get('OTEL_RESOURCE_ATTRIBUTES')?.value ?? '', /(^|,)k8s\.node\.name=\$\(K8S_NODE_NAME\)(,|$)/);
  assert.ok(env.has('OTEL_EXPORTER_OTLP_ENDPOINT'), `${where}: the OTLP endpoint from the environment`);
}

function checkDaemonSet(objects: K8sObject[], where: string): Container {
  const ds = objects.filter((o) => o.kind === 'DaemonSet');
  assert.equal(ds.length, 1, `${where}: one DaemonSet`);
  const spec = podSpecOf(ds[0]);
  assert.equal(spec.hostPID, true, `${where}: hostPID, to see every pod's processes`);
  assert.notEqual(spec.hostNetwork, true);
  assert.notEqual(spec.hostIPC, true);
  assert.deepEqual(spec.volumes ?? [], [], `${where}: no host paths`);
  assert.equal(spec.containers.length, 1);
  checkAgentContainer(spec.containers[0], where);
  return spec.containers[0];
}

function checkSidecar(objects: K8sObject[], where: string): Container {
  const pods = objects.filter((o) => o.kind === 'Pod');
  assert.equal(pods.length, 1, `${where}: one Pod`);
  const spec = podSpecOf(pods[0]);
  assert.equal(spec.shareProcessNamespace, true, `${where}: the agent sees its pod's processes`);
  assert.notEqual(spec.hostPID, true, `${where}: and only those`);
  const agent = spec.containers.filter((c) => c.name === 'tlsotel');
  assert.equal(agent.length, 1);
  assert.ok(spec.containers.length >= 2, `${where}: beside an application container`);
  checkAgentContainer(agent[0], where);
  for (const app of spec.containers.filter((c) => c.name !== 'tlsotel')) {
    assert.equal(app.securityContext?.capabilities?.add, undefined, `${where}: the application gains no capability`);
  }
  return agent[0];
}

async function validateAll(objects: K8sObject[]): Promise<void> {
  assert.ok(objects.length > 0);
  for (const o of objects) await validateObject(o);
}

test('the plain manifests are valid Kubernetes objects: a DaemonSet with hostPID, a sidecar pod, the collector RBAC', async () => {
  const ds = readObjects(path.join(MANIFESTS, 'daemonset.yaml'));
  const sidecar = readObjects(path.join(MANIFESTS, 'sidecar.yaml'));
  const rbac = readObjects(path.join(MANIFESTS, 'collector-rbac.yaml'));
  for (const objs of [ds, sidecar, rbac]) await validateAll(objs);
  checkDaemonSet(ds, 'daemonset.yaml');
  checkSidecar(sidecar, 'sidecar.yaml');
  const role = rbac.find((o) => o.kind === 'ClusterRole') as K8sObject & { rules: Array<{ verbs: string[] }> };
  for (const rule of role.rules) assert.deepEqual(rule.verbs, ['get', 'watch', 'list'], 'the collector only reads');
});

test('a schema violation is caught (the validation can fail)', async () => {
  const [, , ds] = readObjects(path.join(MANIFESTS, 'daemonset.yaml'));
  (podSpecOf(ds) as unknown as Record<string, unknown>).hostPID = 'yes';
  await assert.rejects(validateObject(ds), /hostPID must be boolean/);
});

test('helm template, default values: a valid DaemonSet whose agent flags the agent accepts', async () => {
  const objects = helmTemplate(helm, CHART);
  await validateAll(objects);
  assert.deepEqual(objects.map((o) => o.kind).sort(), ['DaemonSet', 'ServiceAccount']);
  const agent = checkDaemonSet(objects, 'chart (daemonset)');
  assert.equal(agent.args?.[0], 'run');
  const env = Object.fromEntries((agent.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  const { config } = resolveRunConfig(parseFlags('run', agent.args!.slice(1)), readEnvironment(env));
  assert.equal(config.export.mode, 'otlp');
  assert.equal(config.captureBytes, 16384);
});

test('helm template, sidecar mode with capture options, headers and resources set: valid, and passed on', async () => {
  const objects = helmTemplate(helm, CHART, [
    '--set', 'mode=sidecar',
    '--set', 'capture.bytes=4096',
    '--set', 'capture.segments=2',
    '--set', 'capture.ringBufferSize=16M',
    '--set', 'capture.redaction=false',
    '--set', 'capture.comm=nginx',
    '--set', 'capture.requestHeaders={x-request-id,x-tenant}',
    '--set', 'otlp.endpoint=http://collector.example:4317',
    '--set', 'resourceAttributes.k8s\\.cluster\\.name=prod',
    '--set', 'resources.limits.memory=300Mi',
  ]);
  await validateAll(objects);
  assert.deepEqual(objects.map((o) => o.kind), ['Pod']);
  const agent = checkSidecar(objects, 'chart (sidecar)');
  assert.equal(agent.resources?.limits?.memory, '300Mi');
  const env = Object.fromEntries((agent.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  assert.equal(env.OTEL_RESOURCE_ATTRIBUTES, 'k8s.node.name=$(K8S_NODE_NAME),k8s.cluster.name=prod');
  const { config } = resolveRunConfig(parseFlags('run', agent.args!.slice(1)), readEnvironment(env));
  assert.equal(config.captureBytes, 4096);
  assert.equal(config.maxSegments, 2);
  assert.equal(config.ringBufferBytes, 16 * 1024 * 1024);
  assert.deepEqual(config.comms, ['nginx']);
  assert.equal(config.redaction.allowSensitive, true);
  assert.deepEqual(config.redaction.captureRequestHeaders, ['x-request-id', 'x-tenant']);
  assert.equal(config.export.mode, 'otlp');
});

test('helm template: an unknown mode is refused with a sentence naming the values', () => {
  assert.throws(() => helmTemplate(helm, CHART, ['--set', 'mode=deployment']), /mode must be "daemonset" or "sidecar", got "deployment"/);
});

test('the collector names pods from exactly what the agent exports (k8s.pod.uid, then container.id)', () => {
  const cfg = parse(readFileSync(path.join(ROOT, 'otel-config/collector-k8s.yaml'), 'utf8')) as {
    processors: { k8sattributes: { pod_association: Array<{ sources: Array<{ from: string; name: string }> }>; extract: { metadata: string[] } } };
    service: { pipelines: { traces: { processors: string[] } } };
  };
  const k8s = cfg.processors.k8sattributes;
  assert.deepEqual(k8s.pod_association.map((a) => a.sources.map((s) => `${s.from}:${s.name}`)), [['resource_attribute:k8s.pod.uid'], ['resource_attribute:container.id']]);
  // …which are the names the agent's resources carry.
  const resource = readFileSync(path.join(ROOT, 'src/trace/resource.ts'), 'utf8');
  assert.match(resource, /attrs\[ATTR_K8S_POD_UID\] = info\.podUid/);
  assert.match(resource, /attrs\[ATTR_CONTAINER_ID\] = info\.containerId/);
  for (const name of ['k8s.namespace.name', 'k8s.pod.name', 'k8s.deployment.name', 'k8s.node.name']) assert.ok(k8s.extract.metadata.includes(name), name);
  assert.ok(cfg.service.pipelines.traces.processors.includes('k8sattributes'));
});
