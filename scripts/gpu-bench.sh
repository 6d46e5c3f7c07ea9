#!/usr/bin/env bash
# The ceiling and service-compute benchmarks on a GPU provider, on a Linux GPU host with no network.
#
#   scripts/gpu-bench.sh                       # INFERENCE_DEVICE=cuda
#   INFERENCE_DEVICE=webgpu scripts/gpu-bench.sh
#   INFERENCE_DEVICE=cpu scripts/gpu-bench.sh  # the same run on the CPU, to compare or to try the script
#
# The checkout must carry what a network would have fetched (see bench/README.md, "GPU"):
#   - node_modules from `npm ci` on a connected Linux x64 machine;
#   - Node.js 20+ (22+ maintained; 26 as the image): `node` on PATH, $NODE, or a Node binary placed at
#     tools/node/bin/node (`bash scripts/node-line.sh 26` fetches the pinned one on a connected machine);
#   - the CUDA provider next to onnxruntime-node's binding, or a matching onnxruntime-gpu wheel in
#     the host's Python (its provider libraries are linked in, see below).
# It prints the markdown table and writes bench/results/gpu-<timestamp>.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[gpu-bench] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Node: $NODE, then PATH, then a binary placed in the tree.
if [[ -n "${NODE:-}" ]]; then :
elif command -v node >/dev/null 2>&1; then NODE=$(command -v node)
elif [[ -x tools/node/bin/node ]]; then NODE=$PWD/tools/node/bin/node
else die "no Node.js: install Node 22+, set NODE=/path/to/node, or copy the binary of \`bash scripts/node-line.sh 26\` to tools/node/bin/node (see bench/README.md)"
fi
"$NODE" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  die "$NODE is Node $("$NODE" -v); 20 or newer is needed"
export PATH="$(dirname "$NODE"):$PATH"
say "node $("$NODE" -v) at $NODE"

[[ -d node_modules/onnxruntime-node ]] ||
  die "node_modules is missing: run 'npm ci' (then 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js' for CUDA) on a connected Linux x64 machine and copy the tree"

device=${INFERENCE_DEVICE:-cuda}
binding=node_modules/onnxruntime-node/bin/napi-v6/linux/x64
ort_version=$("$NODE" -p 'require("onnxruntime-node/package.json").version')
if [[ "$device" == cuda || "$device" == auto ]] && ! ls "$binding"/libonnxruntime_providers_cuda.so >/dev/null 2>&1; then
  # The onnxruntime-gpu wheel ships the same provider libraries; they load if the versions match.
  capi=$(python3 -c 'import onnxruntime, os; print(onnxruntime.__version__, os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' 2>/dev/null || true)
  if [[ -n "$capi" && "${capi%% *}" == "$ort_version" && -f "${capi#* }/libonnxruntime_providers_cuda.so" ]]; then
    say "linking the CUDA provider of Python's onnxruntime-gpu $ort_version beside the binding"
    for lib in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
      ln -sf "${capi#* }/$lib" "$binding/$lib"
    done
  else
    say "warning: no CUDA provider beside the binding and no matching onnxruntime-gpu $ort_version in python3 (python3 onnxruntime: ${capi:+${capi%% *}}${capi:-none}); the run will fall back to the CPU and say so"
  fi
fi

started=$(date +%s)
INFERENCE_DEVICE=$device timeout "${GPU_BENCH_TIMEOUT_S:-450}" \
  "$NODE" node_modules/ts-node/dist/bin.js -r tsconfig-paths/register --transpile-only bench/gpu-bench.ts
say "done in $(($(date +%s) - started)) s"
