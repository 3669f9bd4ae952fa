#!/usr/bin/env python
"""KNN retrieval on frozen features: python eval/knn_retrieval.py --checkpoint RUN/last.pt [--k 1] [key=value ...]"""

import sys

from ssl_skel.cli import main

if __name__ == "__main__":
    sys.exit(main(["knn", *sys.argv[1:]]))
