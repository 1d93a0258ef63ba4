// Prints the environment of the blobcache container of the first DaemonSet (or Job with the sidecar) in a
// rendered chart as shell `export` lines, with downward-API and Secret references replaced by test values.
// usage: node pod-env.mjs TOOLS_DIR RENDERED.yaml
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const [toolsDir, file] = process.argv.slice(2);
const yaml = createRequire(join(resolve(toolsDir), 'package.json'))('js-yaml');
const fake = { 'status.podIP': '127.0.0.1', 'status.hostIP': '127.0.0.1', 'metadata.name': 'bc-blobcache-test', 'spec.nodeName': 'aks-test-1' };
for (const doc of yaml.loadAll(readFileSync(file, 'utf8'))) {
  const spec = doc?.spec?.template?.spec;
  const container = [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].find(c => c.name === 'blobcache');
  if (!container) continue;
  for (const e of container.env ?? []) {
    let value = e.value;
    if (e.valueFrom?.fieldRef) value = fake[e.valueFrom.fieldRef.fieldPath] ?? '';
    if (e.valueFrom?.secretKeyRef) value = 'sample';
    console.log(`export ${e.name}='${String(value ?? '').replaceAll("'", "'\\''")}'`);
  }
  process.exit(0);
}
console.error(`${file}: no blobcache container`);
process.exit(1);
