"""Package discovery only (metadata is in pyproject.toml).

The presets stay in the top-level `configs/`, where users look for them, and ship inside
the package as `ssl_skel.configs`, so a wheel or a non-editable install finds
`--config synthetic` through importlib.resources. The built-in skeleton layouts
(`ssl_skel/data/layout_files/*.yaml`) ship as package data the same way.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["ssl_skel", "ssl_skel.*"]) + ["ssl_skel.configs"],
    package_dir={"ssl_skel.configs": "configs"},
    package_data={"ssl_skel.configs": ["*.yaml"], "ssl_skel.data": ["layout_files/*.yaml"]},
)
