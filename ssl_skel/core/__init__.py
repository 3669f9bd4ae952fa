"""The bottom layer: config schema and loading, registries, the atomic write, the checkpoint format.

Nothing here imports another layer of the toolkit; every other package may import it.
"""
