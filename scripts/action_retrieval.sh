#!/usr/bin/env bash
# KNN retrieval (1-NN, cosine) of a pretrained run, as UmURL's script_action_retrieval.sh.
#   scripts/action_retrieval.sh <run dir> <dataset> <protocol> [extra args, e.g. --k 1]
# Same data resolution as scripts/action_recognition.sh.
# Results: <run dir>/eval/knn_<protocol>/results.json
MODE=knn exec "$(dirname "$0")/action_recognition.sh" "$@"
