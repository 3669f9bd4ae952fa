"""The real-data benchmark behind BENCHMARKS.md's NW-UCLA, Penn Action and SBU sections.

Run by `python benchmarks/real_data.py` (see its docstring); the modules, one job each:

- datasets: what the driver knows of each dataset (preset, validation split, section markers, folds)
- stages: every call into the toolkit (conversion, pretraining, linear / KNN / fine-tune), typed
- budget: the pretraining epoch plan that fits a time budget, run in resumable chunks
- evaluate: linear and KNN-1 per modality, and the supervised rows, redone when their settings changed
- floors: the raw-coordinate floors (no learning)
- records: the files a run leaves (atomic JSON, stage wall times, checkpoint metrics)
- run: one seed, on the single split or on every fold of a cross-validation
- aggregate: mean and spread over seeds, mean over folds
- report: the markdown section and its writer

Kept outside the package: an experiment driver is not part of the toolkit a wheel installs.
Published goals and reference figures live in BENCHMARKS.md beside each section, not here.
"""
