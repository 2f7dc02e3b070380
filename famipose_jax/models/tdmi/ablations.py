"""TDMI's ablation study (docs/ablations.md): the parts of Fig. 2 taken away one at a time.

The paper's ablations could not be retrieved; these follow the structure of its pipeline
figure. The reference is TDMI at its defaults (all four stages, the cascade, the DCNs, the RDM
with CLUB) but on the benchmark's frames t-1, t+1, the frames every family reads in the
families study; the 5-frame window of the lab model is a variant. Every variant trains on the
same frozen stage-1 backbone.
"""

from famipose_jax.ablation.variant import SINGLE_FRAME, Study, Variant, single_frame_row

REFERENCE = 'tdmi'
_TDMI = {'model.family': 'tdmi', 'model.tdmi.supporting_offsets': (-1, 1)}

VARIANTS = (
    single_frame_row('components'),
    Variant(REFERENCE, 'TDMI (reference)', _TDMI, 'components'),
    Variant('stage4_only', 'stage-4 differences only', {**_TDMI, 'model.tdmi.stages': (4,)},
            'components'),
    Variant('no_cascade', 'stages summed, no cascade', {**_TDMI, 'model.tdmi.cascade': False},
            'components'),
    Variant('no_dcn', 'no DCN', {**_TDMI, 'model.tdmi.dcn': False}, 'components'),
    Variant('no_rdm', 'no RDM', {**_TDMI, 'model.tdmi.rdm': False, 'model.tdmi.mi': 'none'},
            'RDM'),
    Variant('rdm_no_mi', 'RDM without MI', {**_TDMI, 'model.tdmi.mi': 'none'}, 'RDM'),
    Variant('frames_5', '5 frames (t-2 .. t+2, the lab model\'s)',
            {**_TDMI, 'model.tdmi.supporting_offsets': (-2, -1, 1, 2)}, 'frames'),
)

STUDY = Study(variants=VARIANTS, reference=REFERENCE, quick=(SINGLE_FRAME, REFERENCE, 'no_rdm'))
