"""The single-frame HRNet (Sun et al., CVPR 2019): every video family's baseline and stage 1.

  network.py  HRNet on the key frame alone, with the configured head
  family.py   its ModelFamily record (models/registry.py)
"""
