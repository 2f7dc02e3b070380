"""DCPose (Liu et al., CVPR 2021: "Deep Dual Consecutive Network for Human Pose Estimation").

  network.py          the whole model (published DcPose_RSN): the frozen HRNet on the current,
                      previous and next frame, PRF, PTM, the offset/mask feature and PCN
  residual_steps.py   RSN's residual-steps blocks, which PRF, PTM and the combine stack chain
  pose_correction.py  PCN: five modulated deformable convolutions on the merged heatmaps
  temporal_weights.py the previous/next weights from the frames' distances (the "margins")
  family.py           its ModelFamily record and config section
"""
