"""Readers of raw and third-party skeleton formats, each writing the native array format.

- registry: the one table of formats (name -> convert function, typed options, default layout) that
  `ssl-skel gendata`, the benchmark drivers and the tests read; options: how an options field is
  also a command-line flag
- ntu_skeleton: the official NTU RGB+D `.skeleton` text files (parser, located errors)
- denoise / normalise: SGN-style multi-body denoising, centring and view alignment
- ntu: the resumable, parallel NTU-60/120 converter with the official splits (ntu_meta)
- nw_ucla: NW-UCLA json clips with the cross-view split
- pyskl_pkl: pyskl / mmaction2 annotation pickles (2D and 3D); pickles: reading them without running code
- legacy: UmURL/AimCLR folders and CTR-GCN `.npz`, read in place or imported
- arrays: a user's own clips (clip_files: the file kinds; tables: labels and splits)
- penn_action, sbu: Penn Action and SBU, through clip_cache (one file per clip -> a table) and arrays
- builtin: the procedural dataset (ssl_skel.data.synthetic) in the converters' shape
- common: output folder policy, staged output and validation, parallel map, bad-file summary

Modules are imported on demand (`from ssl_skel.data.formats import ntu`), so importing this
package costs nothing.
"""
