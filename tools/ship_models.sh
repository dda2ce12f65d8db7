#!/usr/bin/env bash
# Evaluate the trained runs on the test split (full-stream NLL), then export each to
# assets/models/ as ONNX with its int8 copy, recording the NLLs and the int8 cost.
#   tools/ship_models.sh runs/ship        (expects RUNS/{dynamics,nodynamics,control}/best.pt)
set -euo pipefail
runs=${1:-runs/ship}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$runs/eval"
for name in dynamics nodynamics control; do
    ckpt="$runs/$name/best.pt"
    for split in ${SPLITS:-test}; do
        [ -s "$runs/eval/$name.$split.json" ] ||
            $py -m training.evaluate --model "$ckpt" --data data/asap-v1 --split $split > "$runs/eval/$name.$split.json"
    done
    test_nll=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['nll_per_event'])" "$runs/eval/$name.test.json")
    $py -m training.export_onnx --checkpoint "$ckpt" --out "assets/models/perfjam-$name.onnx" \
        --name "perfjam-$name" --test-nll "$test_nll" --int8 \
        --nll-data data/asap-v1 --nll-split test --nll-limit 8 --nll-max-events 4000 | tee "$runs/eval/$name.export.txt"
done
