"""TDMI's ablation study (docs/ablations.md): the parts of Fig. 2 taken away one at a time.

The paper's ablations could not be retrieved; these follow the structure of its pipeline
figure. The reference is TDMI as configured (all four stages, the cascade, the DCNs, the RDM
with CLUB), every variant on the same frozen stage-1 backbone.
"""

from famipose_jax.ablation.variant import SINGLE_FRAME, Study, Variant

REFERENCE = 'tdmi'
_TDMI = {'model.family': 'tdmi'}

VARIANTS = (
    Variant(SINGLE_FRAME, 'single-frame HRNet (stage 1)', {}, 'components'),
    Variant(REFERENCE, 'TDMI (reference)', _TDMI, 'components'),
    Variant('stage4_only', 'stage-4 differences only', {**_TDMI, 'model.tdmi.stages': (4,)},
            'components'),
    Variant('no_cascade', 'stages summed, no cascade', {**_TDMI, 'model.tdmi.cascade': False},
            'components'),
    Variant('no_dcn', 'no DCN', {**_TDMI, 'model.tdmi.dcn': False}, 'components'),
    Variant('no_rdm', 'no RDM', {**_TDMI, 'model.tdmi.rdm': False, 'model.tdmi.mi': 'none'},
            'RDM'),
    Variant('rdm_no_mi', 'RDM without MI', {**_TDMI, 'model.tdmi.mi': 'none'}, 'RDM'),
    Variant('frames_3', '3 frames (t-1, t, t+1)',
            {**_TDMI, 'model.tdmi.supporting_offsets': (-1, 1)}, 'frames'),
)

STUDY = Study(variants=VARIANTS, reference=REFERENCE, quick=(SINGLE_FRAME, REFERENCE, 'no_rdm'))
