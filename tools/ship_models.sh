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
            $py -m training.evaluate --model "$ckpt" --data data/asap-v2 --split $split > "$runs/eval/$name.$split.json"
    done
    read_nll() { $py -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }
    test_nll=$(read_nll "$runs/eval/$name.test.json" nll_per_event)
    test_nll_grammar=$(read_nll "$runs/eval/$name.test.json" nll_per_event_grammar)
    $py -m training.export_onnx --checkpoint "$ckpt" --out "assets/models/perfjam-$name.onnx" \
        --name "perfjam-$name" --test-nll "$test_nll" --test-nll-grammar "$test_nll_grammar" --int8 \
        --nll-data data/asap-v2 --nll-split test --nll-limit 8 --nll-max-events 4000 | tee "$runs/eval/$name.export.txt"
done
