"""The 17-slot "PoseTrack as COCO" joint layout and the 15 PoseTrack evaluation joints.

Every component that names a joint (readers, flips, targets, the evaluator, the synthetic
generator) takes the layout from here, so that the slot order exists once.
"""

import numpy as np

JOINT_NAMES = (
    'nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle',
)
NUM_JOINTS = len(JOINT_NAMES)

# Left/right slot pairs swapped by a horizontal flip.
FLIP_PAIRS = ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

# Half-body augmentation picks one of these groups.
UPPER_BODY_JOINTS = tuple(range(0, 11))
LOWER_BODY_JOINTS = tuple(range(11, 17))

# The ears exist in the 17-slot layout but PoseTrack never annotates them.
UNANNOTATED_JOINTS = (3, 4)

# poseval's joint ids 0..14, in its order ("neck" is the head_bottom slot).
EVAL_JOINT_NAMES = (
    'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle',
    'right_wrist', 'right_elbow', 'right_shoulder', 'left_shoulder', 'left_elbow',
    'left_wrist', 'head_bottom', 'nose', 'head_top',
)
NUM_EVAL_JOINTS = len(EVAL_JOINT_NAMES)

# SLOT_OF_EVAL_JOINT[e] is the 17-slot index of poseval joint e.
SLOT_OF_EVAL_JOINT = tuple(JOINT_NAMES.index(name) for name in EVAL_JOINT_NAMES)
# EVAL_JOINT_OF_SLOT[s] is the poseval id of slot s, or -1 for the ears.
EVAL_JOINT_OF_SLOT = tuple(
    EVAL_JOINT_NAMES.index(name) if name in EVAL_JOINT_NAMES else -1 for name in JOINT_NAMES)

# The columns of the PoseTrack mAP table, as poseval ids.
TABLE_COLUMNS = (
    ('Head', (12, 13, 14)),
    ('Shoulder', (8, 9)),
    ('Elbow', (7, 10)),
    ('Wrist', (6, 11)),
    ('Hip', (2, 3)),
    ('Knee', (1, 4)),
    ('Ankle', (0, 5)),
)

# Bones for drawing predictions (pairs of slots).
SKELETON = (
    (2, 0), (0, 1), (1, 5), (1, 6), (5, 7), (7, 9), (6, 8), (8, 10),
    (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)


def flip_permutation(num_joints: int, flip_pairs) -> np.ndarray:
  """perm[k] = the joint whose map becomes joint k after a horizontal flip."""
  perm = np.arange(num_joints)
  for left, right in flip_pairs:
    perm[left], perm[right] = right, left
  return perm
