"""Ablation studies: `python -m famipose_jax.ablation --out DIR [--study NAME]`.

studies: which study runs (a model family's own, e.g. FAMI-Pose's parts, or families: one row
per model family); grid: the runs (seeds x variants on a shared stage-1 backbone);
runner: trains what is unfinished; key_frame_subsets: mAP on degraded and clean key frames;
paired_stats: spreads and paired intervals; report: results.json / .md / ablation.png.
docs/ablations.md describes the benchmark and the results.
"""
