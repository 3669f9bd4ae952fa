"""The one training engine: `trainer.fit` (the loop) and its parts: `loop` (state, building),
`step` (one step's checks), `resume` (save, find, check, restore), `run_dir` (one run per folder),
`seeding`, `optimizer`, `schedule` (warm-up + cosine or steps), `amp` (mixed precision policy),
`distributed` (torchrun -> process group), `logging` (TensorBoard, log.txt), `metrics` and
`plots` (training curves, confusion matrices, t-SNE); `pretrain` runs a pretraining config.

Submodules are imported where used, so importing one stays cheap.
"""
