"""The built-in dataset: procedural human actions on the NTU-25 layout, in three parts.

`actions` (the class library as joint-angle trajectories), `body` (angles -> joints, the
subjects) and `generator` (cameras, time, sensor nuisances, the dataset folder). The
command line is `ssl-skel gendata synthetic` (`data_gen/synthetic_gendata.py` calls it).
"""

from ssl_skel.data.synthetic.actions import CLASS_NAMES, CLASSES, ActionClass
from ssl_skel.data.synthetic.generator import VERSION, VIEWS_DEG, check_version, generate_dataset, is_current, summary

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "VERSION",
    "VIEWS_DEG",
    "ActionClass",
    "check_version",
    "generate_dataset",
    "is_current",
    "summary",
]
