"""Readers of raw and third-party skeleton formats, each writing the native array format.

- ntu_skeleton: the official NTU RGB+D `.skeleton` text files (parser, located errors)
- denoise / normalise: SGN-style multi-body denoising, centring and view alignment
- ntu: the resumable, parallel NTU-60/120 converter with the official splits (ntu_meta)
- nw_ucla: NW-UCLA json clips with the cross-view split
- pyskl_pkl: pyskl / mmaction2 annotation pickles (2D and 3D)
- legacy: UmURL/AimCLR folders and CTR-GCN `.npz`, read in place or imported

Modules are imported on demand (`from ssl_skel.data.formats import ntu`), so importing this
package costs nothing.
"""
