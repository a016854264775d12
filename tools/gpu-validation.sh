#!/usr/bin/env bash
# The whole GPU validation in one go, on a GPU machine that cannot install anything
# (the device machines here: CUDA builds of torch and jax preinstalled, no PyPI).
#
# Prepare here (with network), once:
#   tools/gpu-validation.sh --prepare      # wheels for pyhf + asv (cp312) into .whl/, data into .gpu-data/
# Then on the GPU machine, from the repo root (carry .whl, .gpu-data and .pyhf-history):
#   OUT=/some/dir tools/gpu-validation.sh
# Everything lands in $OUT: env.json, gpu-check.json, accelerator-measured-gpu.json (measured beside
# predicted, docs/accelerators.md), zigzag-gpu.json (pyhf #301), gpu-tests.log, asv-results.tar.gz, run.log.
# Budget: about 8 minutes (the device tool allows 10 per command).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ "${1:-}" = "--prepare" ]; then
    grep -qxF '/.gpu-data/' .git/info/exclude || echo '/.gpu-data/' >> .git/info/exclude
    rm -rf .whl && mkdir -p .whl
    # pyhf and asv with the dependencies the GPU image lacks (it has numpy, scipy, torch, jax, tqdm, click, pyyaml...).
    $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        pyhf==0.7.6 jsonschema jsonschema-specifications referencing rpds-py jsonpatch jsonpointer \
        asv==0.6.6 asv_runner json5 pympler iminuit
    # Only the likelihoods the GPU runs use (the mirror does not travel: it is outside the repo).
    src=${PYHF_BENCH_DATA:-../shared/likelihoods}
    rm -rf .gpu-data && mkdir -p .gpu-data
    for d in ATLAS-SUSY-2018-31_sbottom-multib_hepdata.89408 ATLAS-SUSY-2018-04_direct-staus_hepdata.92006 extra-bkgonly/3L-resonance_hepdata.99806; do
        mkdir -p ".gpu-data/$d" && cp -r "$src/$d/." ".gpu-data/$d/"
    done
    [ -d .pyhf-history ] || pyhf-bench history build .pyhf-history --versions 0.7.6
    du -sh .whl .gpu-data .pyhf-history
    exit 0
fi

: "${OUT:?set OUT to the folder for the results}"
exec > >(tee "$OUT/run.log") 2>&1
start=$(date +%s)
# Into the interpreter itself, not PYTHONPATH: asv --python=same strips PYTHONPATH (asv #1537).
$PY -m pip install -q --no-index --no-deps --no-compile .whl/*.whl
site=$($PY -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD/src" > "$site/pyhf-bench-src.pth"   # the support package, without building it (no hatchling there)
export PYHF_BENCH_DATA="$PWD/.gpu-data" TF_CPP_MIN_LOG_LEVEL=3 PYHF_BENCH_TIER=quick
pyhf_bench() { $PY -m pyhf_bench.cli "$@"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt" || true
cuda=$($PY -c 'import torch; print(torch.version.cuda or "none")' 2>/dev/null || echo none)
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr -cd 'A-Za-z0-9' || echo gpu)
machine="${gpu:-gpu}-cuda${cuda}"
echo "machine name: $machine"

pyhf_bench env --json > "$OUT/env.json" || true
pyhf_bench gpu-check --out "$OUT/gpu-check.json" > /dev/null || true

# The committed predictions (docs/accelerator-predictions.json, see docs/accelerators.md): the same
# JAX steps timed on this GPU and written beside the predicted times. The H100 variant is read off
# the card's name; models up to 10^4 bins (10^5 takes ~40 s to build), at most ~150 s.
case "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" in
    *H100*PCIe*) spec=h100-pcie ;;
    *) spec=h100-sxm ;;
esac
pyhf_bench accelerators measure --device gpu --spec "$spec" --max-bins 10000 --budget 150 \
    --out "$OUT/accelerator-measured-gpu.json" || true
# pyhf #301: the interpolators swept three times over bins around multiples of 128 (~1 min).
pyhf_bench accelerators zigzag --device gpu --precision 32b --repeats 3 --out "$OUT/zigzag-gpu.json" || true
mkdir -p "$OUT/accelerator-plots"
pyhf_bench accelerators plot --measured "$OUT/accelerator-measured-gpu.json" --zigzag "$OUT/zigzag-gpu.json" \
    --out "$OUT/accelerator-plots" \
    || echo "no plots here (matplotlib missing?): run the plot command on the files after fetching them"
$PY -m pytest -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -25 | tee "$OUT/gpu-tests.log" || true

# asv on the installed pyhf 0.7.6: the commit of v0.7.6 in the offline history.
$PY -m pyhf_bench.cli run --offline .pyhf-history --dry-run > /dev/null  # writes asv.offline.conf.json
sha=$(git -C .pyhf-history rev-parse v0.7.6)
$PY -m asv --config asv.offline.conf.json machine --machine "$machine" --yes > /dev/null
for pattern in \
    'synthetic_models\.(Logpdf|BatchedLogpdf|NLLGradient|Hypotest)' \
    'interpolators' \
    'published_likelihoods\.(Logpdf|NLLGradient|Fit|Hypotest|DeviceMemory)'; do
    left=$(( 540 - ($(date +%s) - start) ))
    [ "$left" -gt 60 ] || { echo "time budget spent before: $pattern"; break; }
    # spawn, not the config's forkserver: this one-shot run must not risk a CUDA context
    # created before a fork; the price is a slower start per benchmark process.
    timeout "$left" $PY -m asv --config asv.offline.conf.json run --python=same --set-commit-hash="$sha" \
        --machine "$machine" --quick --launch-method spawn -b "$pattern" || true
done
tar czf "$OUT/asv-results.tar.gz" results/"$machine" results/benchmarks.json 2>/dev/null || true
echo "done in $(( $(date +%s) - start )) s"
