"""FAMI-Pose's ablation study (docs/ablations.md): its components, MI objectives, head, frames.

The reference is FAMI-Pose without MI (global transformation and local calibration, the
benchmark config's supporting frames, heatmap head).
"""

from famipose_jax.ablation.variant import SINGLE_FRAME, Study, Variant, single_frame_row

REFERENCE = 'fami_no_mi'

VARIANTS = (
    single_frame_row('components'),
    Variant('global_only', 'global transformation only',
            {'model.famipose.local_calibration': False}, 'components'),
    Variant('local_only', 'local calibration only', {'model.famipose.global_transform': 'none'},
            'components'),
    Variant(REFERENCE, 'FAMI-Pose without MI (reference)', {}, 'components'),
    # The published DCN uses its raw mask; with N(0, 0.001) weights it starts near 0, so the
    # calibrated supporting features start near 0 too. DCNv2's sigmoid mask starts at 0.5.
    Variant('dcn_sigmoid_mask', 'local calibration with a sigmoid mask',
            {'model.famipose.dcn_mask_activation': 'sigmoid'}, 'components'),
    Variant('mi_published', '+ MI, published terms', {'model.famipose.mi': 'published'}, 'MI'),
    Variant('mi_true_kl', '+ MI, true KL',
            {'model.famipose.mi': 'published', 'model.famipose.mi_faithful': False}, 'MI'),
    Variant('mi_critic', '+ MI, learned critic', {'model.famipose.mi': 'critic'}, 'MI'),
    # The one targeted MI attempt: the published terms at a tenth of their weights.
    Variant('mi_published_low', '+ MI, published terms x0.1',
            {'model.famipose.mi': 'published', 'model.famipose.mi_alpha': 0.05,
             'model.famipose.mi_beta': 0.01}, 'MI'),
    Variant('simcc', 'SimCC head', {'model.head': 'simcc'}, 'head'),
    Variant('frames_1', '1 supporting frame (previous)', {'data.supporting_offsets': (-1,)},
            'frames'),
    Variant('frames_4', '4 supporting frames (+-1, +-2)',
            {'data.supporting_offsets': (-2, -1, 1, 2)}, 'frames'),
    Variant('affine', 'affine global transformation',
            {'model.famipose.global_transform': 'affine'}, 'transform'),
)

STUDY = Study(variants=VARIANTS, reference=REFERENCE,
              quick=(SINGLE_FRAME, 'global_only', REFERENCE))
