#!/usr/bin/env bash
# The main job end to end on the built-in dataset, on this machine (CPU is enough):
#   1. .venv with the project installed   2. the synthetic dataset in data/synthetic
#   3. UmURL pretraining (configs/synthetic.yaml) into runs/synthetic, with the online KNN monitor
#   4. linear probe and KNN retrieval of the frozen encoder
# Extra arguments go to pretraining, e.g. scripts/quickstart.sh train.epochs=4
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh ""  # no extra (an explicit empty arg: a bare `source` would pass our "$@")
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
DATA=data/synthetic
RUN="${RUN:-runs/synthetic}"  # RUN=... puts the run elsewhere
echo "[ssl-skel] the built-in dataset in $DATA (generated unless it is there in the current version)"
"$PY" data_gen/synthetic_gendata.py --out "$DATA" --if-stale
echo "[ssl-skel] pretraining (configs/synthetic.yaml) -> $RUN"
scripts/pretrain.sh synthetic run_dir="$RUN" "$@"
CKPT="$RUN/last.pt"
for init in "" "--random-init"; do
    label="pretrained encoder"; [ -n "$init" ] && label="randomly initialised encoder (contrast)"
    echo "[ssl-skel] linear probe and KNN retrieval: $label"
    "$PY" eval/linear_eval.py --checkpoint "$CKPT" --modalities all $init
    "$PY" eval/knn_retrieval.py --checkpoint "$CKPT" --modalities all $init
done
echo
"$PY" -m ssl_skel.cli report "$RUN"
echo
echo "[ssl-skel] done. Pretraining: $RUN/ (last.pt, best_val.pt, log.txt, curves.png with val/knn1, TensorBoard: tensorboard --logdir $RUN)"
echo "[ssl-skel] evaluation: $RUN/eval/*/ (results.json, confusion.png, tsne.png, per-clip scores)"
