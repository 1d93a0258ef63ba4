// Offline schema check of rendered Kubernetes manifests (run by deploy/aks/check.sh).
//
// Two independent checks per object, both generated from the Kubernetes API's OpenAPI spec:
//  1. kubernetes-models: ajv-compiled JSON schemas per kind (required fields, types, formats, enums).
//  2. @kubernetes/client-node: the generated type map of every API type, walked field by field, so an
//     unknown or misspelled field anywhere in the tree is an error (what `kubectl --validate=strict` rejects).
// Custom resources (ServiceMonitor, PyTorchJob) have no schema here: their pod templates are checked as
// core PodTemplateSpecs and the rest is reported as not checked.
//
// usage: node validate.mjs TOOLS_DIR FILE...   TOOLS_DIR holds node_modules with the packages of
// tools/k8s/package.json; each FILE may hold many YAML documents. Exit 1 on any error.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [toolsDir, ...files] = process.argv.slice(2);
const require = createRequire(join(resolve(toolsDir), 'package.json'));
// The generated API types of @kubernetes/client-node (self-contained files, unpacked by check.sh).
const models = await import(pathToFileURL(join(resolve(toolsDir), 'client-node', 'models', 'all.js')).href);
const yaml = require('js-yaml');

const errors = [];
let checked = 0;
const notes = [];

// kubernetes-models module path and client-node class name for an apiVersion/kind.
function modelsFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const modulePath = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  const className = version[0].toUpperCase() + version.slice(1) + kind;
  return { modulePath, className };
}

function schemaCheck(modulePath, exportName, value, where) {
  let mod;
  try {
    mod = require(modulePath);
  } catch {
    return false;
  }
  const Model = mod[exportName];
  if (!Model) return false;
  try {
    new Model(value).validate();
  } catch (e) {
    const details = e.errors ? e.errors.map(x => `${x.instancePath || '/'} ${x.message}`).join('; ') : e.message;
    errors.push(`${where}: ${details}`);
  }
  return true;
}

const primitive = { string: 'string', number: 'number', boolean: 'boolean', Date: 'string' };
// Fields of type resource.Quantity: the type map says string, the API also takes a number (cpu: 2).
const quantityFields = new Set(['limits', 'requests', 'sizeLimit', 'hard', 'capacity', 'allocatable', 'overhead']);

// Walks value as type T from the client-node type map; reports unknown fields and wrong JSON types.
function strictWalk(type, value, path, where, quantity = false) {
  if (value === null || value === undefined) return;
  if (type === 'any') return;
  if (quantity && type === 'string' && typeof value === 'number') return;
  if (type === 'IntOrString') {
    if (typeof value !== 'string' && !Number.isInteger(value)) errors.push(`${where}: ${path} must be an integer or a string`);
    return;
  }
  if (primitive[type]) {
    if (typeof value !== primitive[type]) errors.push(`${where}: ${path} must be a ${primitive[type]}, not ${JSON.stringify(value)}`);
    return;
  }
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (!Array.isArray(value)) { errors.push(`${where}: ${path} must be a list`); return; }
    value.forEach((v, i) => strictWalk(m[1], v, `${path}[${i}]`, where));
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    if (typeof value !== 'object' || Array.isArray(value)) { errors.push(`${where}: ${path} must be a map`); return; }
    for (const [k, v] of Object.entries(value)) strictWalk(m[1], v, `${path}.${k}`, where, quantity);
    return;
  }
  const cls = models[type];
  if (!cls || typeof cls.getAttributeTypeMap !== 'function') { errors.push(`${where}: ${path}: no model for type ${type}`); return; }
  if (typeof value !== 'object' || Array.isArray(value)) { errors.push(`${where}: ${path} must be an object (${type})`); return; }
  const fields = new Map(cls.getAttributeTypeMap().map(a => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = fields.get(k);
    if (t === undefined) errors.push(`${where}: ${path ? path + '.' : ''}${k}: unknown field (not in ${type})`);
    else strictWalk(t, v, path ? `${path}.${k}` : k, where, quantityFields.has(k));
  }
}

function checkTemplate(template, where) {
  schemaCheck('kubernetes-models/v1/PodTemplateSpec', 'PodTemplateSpec', template, where);
  strictWalk('V1PodTemplateSpec', template, 'template', where);
}

// Custom resources we know the shape of well enough to check their embedded pod templates.
const customResources = {
  'kubeflow.org/v1/PyTorchJob': (doc, where) => {
    const specs = doc.spec?.pytorchReplicaSpecs;
    if (!specs || typeof specs !== 'object') { errors.push(`${where}: spec.pytorchReplicaSpecs is missing`); return; }
    for (const [role, spec] of Object.entries(specs)) {
      if (!spec?.template) errors.push(`${where}: spec.pytorchReplicaSpecs.${role}.template is missing`);
      else checkTemplate(spec.template, `${where} ${role}`);
    }
    notes.push(`${where}: custom resource; only its pod templates were checked against the core schema`);
  },
  'monitoring.coreos.com/v1/ServiceMonitor': (doc, where) => {
    if (!Array.isArray(doc.spec?.endpoints) || doc.spec.endpoints.length === 0) errors.push(`${where}: spec.endpoints must be a non-empty list`);
    if (!doc.spec?.selector) errors.push(`${where}: spec.selector is missing`);
    notes.push(`${where}: custom resource (prometheus-operator); only spec.endpoints and spec.selector were checked`);
  },
};

for (const file of files) {
  let docs;
  try {
    docs = yaml.loadAll(readFileSync(file, 'utf8'));
  } catch (e) {
    errors.push(`${file}: not valid YAML: ${e.message}`);
    continue;
  }
  docs.forEach((doc, i) => {
    if (doc === null || doc === undefined) return;
    const name = doc?.metadata?.name ?? '?';
    const where = `${file}#${i + 1} ${doc?.kind ?? '?'}/${name}`;
    if (typeof doc !== 'object' || !doc.apiVersion || !doc.kind) { errors.push(`${where}: apiVersion and kind are required`); return; }
    if (!doc.metadata?.name) errors.push(`${where}: metadata.name is required`);
    checked++;
    const cr = customResources[`${doc.apiVersion}/${doc.kind}`];
    if (cr) { cr(doc, where); return; }
    const { modulePath, className } = modelsFor(doc.apiVersion, doc.kind);
    if (!schemaCheck(modulePath, doc.kind, doc, where)) { errors.push(`${where}: no schema for ${doc.apiVersion} ${doc.kind}`); return; }
    strictWalk(className, doc, '', where);
  });
}

for (const n of notes) console.log(`note: ${n}`);
for (const e of errors) console.log(`error: ${e}`);
console.log(`${checked} objects checked, ${errors.length} errors`);
process.exit(errors.length === 0 && checked > 0 ? 0 : 1);
