// CRD YAML → one JSON schema per served version, where kubeconform's schema location
// `<dir>/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json` finds it.
// Strict like the Kubernetes schemas: an object with properties and no
// x-kubernetes-preserve-unknown-fields takes no other keys, so a misspelt field fails.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

type Schema = { [key: string]: unknown };

export function toStrictJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStrictJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const schema: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) schema[key] = toStrictJsonSchema(value);
  if (schema['x-kubernetes-int-or-string'] === true) {
    delete schema.type;
    schema.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (schema.properties && schema['x-kubernetes-preserve-unknown-fields'] !== true && !schema.additionalProperties) {
    schema.additionalProperties = false;
  }
  return schema;
}

interface Crd {
  kind: string;
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; served: boolean; schema?: { openAPIV3Schema: Schema } }[];
  };
}

export function crdSchemas(yamlText: string): { file: string; schema: unknown }[] {
  const out: { file: string; schema: unknown }[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    const crd = doc.toJSON() as Crd | null;
    if (crd?.kind !== 'CustomResourceDefinition') continue;
    for (const version of crd.spec.versions) {
      if (!version.served || !version.schema) continue;
      const file = join(crd.spec.group, `${crd.spec.names.kind.toLowerCase()}_${version.name}.json`);
      out.push({ file, schema: toStrictJsonSchema(version.schema.openAPIV3Schema) });
    }
  }
  return out;
}

if (require.main === module) {
  const [outDir, ...files] = process.argv.slice(2);
  if (!outDir || files.length === 0) {
    console.error('usage: crd-to-schema.ts OUT_DIR CRD.yaml...');
    process.exit(2);
  }
  for (const path of files) {
    const schemas = crdSchemas(readFileSync(path, 'utf8'));
    if (schemas.length === 0) throw new Error(`${path}: no served CRD version with a schema`);
    for (const { file, schema } of schemas) {
      mkdirSync(join(outDir, file, '..'), { recursive: true });
      writeFileSync(join(outDir, file), JSON.stringify(schema));
      console.log(`deploy-tools: ${join(outDir, file)}`);
    }
  }
}
