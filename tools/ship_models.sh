#!/usr/bin/env bash
# Ship trained runs: evaluate each on the validation and test splits (full-stream NLL, plain and
# grammar), then export it to assets/models/NAME.onnx with its int8 copy, recording both test NLLs
# and the int8 cost in its metadata.
#   tools/ship_models.sh RUN_DIR:NAME [RUN_DIR:NAME ...]
#   e.g. tools/ship_models.sh runs/long-dynamics:perfjam-dynamics
# Results (JSON, export log) go to RUN_DIR/eval/. Set DATA (default data/asap-v2), SPLITS.
set -euo pipefail
py=${PYTHON:-.venv/bin/python}
data=${DATA:-data/asap-v2}
[ $# -gt 0 ] || { echo "usage: $0 RUN_DIR:NAME ..." >&2; exit 2; }
read_nll() { $py -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$@"; }
for spec in "$@"; do
    run=${spec%%:*}
    name=${spec#*:}
    ckpt="$run/best.pt"
    mkdir -p "$run/eval"
    for split in ${SPLITS:-validation test}; do
        [ -s "$run/eval/$split.json" ] ||
            $py -m training.evaluate --model "$ckpt" --data "$data" --split "$split" > "$run/eval/$split.json"
    done
    test_nll=$(read_nll "$run/eval/test.json" nll_per_event)
    test_nll_grammar=$(read_nll "$run/eval/test.json" nll_per_event_grammar)
    $py -m training.export_onnx --checkpoint "$ckpt" --out "assets/models/$name.onnx" \
        --name "$name" --test-nll "$test_nll" --test-nll-grammar "$test_nll_grammar" --int8 \
        --nll-data "$data" --nll-split test --nll-limit 8 --nll-max-events 4000 | tee "$run/eval/export.txt"
done
