"""The one training engine: `trainer.fit` (loop), `checkpoint` (atomic files, resume),
`distributed` (torchrun -> process group), `schedule` (warm-up + cosine), `amp` (mixed
precision policy), `logging` (TensorBoard, log.txt) and `plots` (training curves).

Submodules are imported where used, so `import ssl_skel.core.checkpoint` stays cheap.
"""
