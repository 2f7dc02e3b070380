"""TDMI (Feng et al., CVPR 2023: "Mutual Information-Based Temporal Difference Learning for
Human Pose Estimation in Video"), reconstructed from its pipeline figure (docs/tdmi.md).

  network.py             the whole model: the frozen HRNet's stage features of every frame,
                         the TDE, the RDM, aggregation with the key frame and the head
  difference_encoder.py  the Temporal Difference Encoder (differences, blocks, DCN, cascade)
  disentanglement.py     the Representation Disentanglement Module (useful / noisy gates)
  objective.py           minimised MI between the two branches (CLUB or the lab's surrogate)
  ablations.py           its ablation study
  family.py              its ModelFamily record and config section
"""
