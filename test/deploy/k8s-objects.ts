// Kubernetes objects for tests: render the chart with the helm built by scripts/build-helm.sh,
// read YAML files, and validate each object against the Kubernetes API schema with the
// kubernetes-models package (types, required fields, enums and formats of every field; it does
// not reject unknown fields, so the tests check the fields that matter by name).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ROOT } from '../helpers/procs';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** The helm binary, built once per machine outside the clone (minutes the first time). */
export function helmBinary(): string {
  const out = execFileSync('bash', [path.join(ROOT, 'scripts/build-helm.sh')], { encoding: 'utf8', timeout: 20 * 60_000, stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

export function parseObjects(text: string, where: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue; // an empty document between two ---
    objects.push(value as K8sObject);
  }
  return objects;
}

export function readObjects(file: string): K8sObject[] {
  return parseObjects(readFileSync(file, 'utf8'), path.relative(ROOT, file));
}

export function helmTemplate(helm: string, chart: string, args: string[] = []): K8sObject[] {
  const out = execFileSync(helm, ['template', 'test', chart, '--namespace', 'tlsotel', ...args], { encoding: 'utf8', timeout: 60_000 });
  return parseObjects(out, `helm template ${args.join(' ')}`);
}

// kubernetes-models is ESM only ("import" export condition): tsc compiles import() to require()
// under "module": "commonjs", so the import goes through a function tsc leaves alone.
const importEsm = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;

/** Throws, naming the object and every schema error, unless obj is a valid object of its kind. */
export async function validateObject(obj: K8sObject): Promise<void> {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const module = `kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`;
  // Every model is built like DaemonSet from its object, and validates itself.
  const Model = (await importEsm(module))[obj.kind] as (new (o: ConstructorParameters<typeof DaemonSet>[0]) => { validate(): void }) | undefined;
  if (Model === undefined) throw new Error(`${module} has no model ${obj.kind}`);
  try {
    new Model(obj as never).validate();
  } catch (e) {
    throw new Error(`${obj.kind} ${obj.metadata?.name}: ${(e as Error).message}`);
  }
}
