"""The bottom layer: config schema (config, shared_config, fusion_config), preset reading (presets,
safe_yaml), schema validation, registries, io (the one atomic write), the checkpoint format,
progress bars and log lines, devices and memory settings.

Nothing here imports another layer of the toolkit; every other package may import it.
"""
