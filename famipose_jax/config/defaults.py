"""The published FAMI-Pose configuration (HRNet-W48, 384x288, PoseTrack17): every default.

Every number here is the published value (the code at github.com/Pose-Group/FAMI-Pose);
switches that default to the code's behaviour offer the paper's variant. It is also the layout
config_schema checks every config against: the experiment configs in configs/ start from it and
change values, never fields.
"""

import ml_collections

from data_pipeline import joints
from famipose_jax.config import backbone_presets


def published_config() -> ml_collections.ConfigDict:
  """A new copy of the published configuration; experiment configs start from it."""
  config = ml_collections.ConfigDict()
  config.seed = 19970808
  config.num_epochs = 21
  config.batch_size = 48                 # global batch of clips, split over all devices
  config.eval_batch_size = 64
  config.init_from = ''                  # converted HRNet (or FAMI-Pose) checkpoint directory

  # Shared between model, targets and decoding: change one, all follow (config_schema refuses a
  # config whose model and data copies differ).
  image_size = ml_collections.FieldReference((288, 384))    # (W, H)
  heatmap_size = ml_collections.FieldReference((72, 96))    # (W, H)
  num_joints = ml_collections.FieldReference(joints.NUM_JOINTS)
  simcc_split_ratio = ml_collections.FieldReference(2.0)

  # ---- model ----
  m = config.model = ml_collections.ConfigDict()
  m.temporal = True                      # False: single-frame HRNet baseline, same code
  m.head = 'heatmap'                     # 'heatmap' | 'simcc'
  m.num_joints = num_joints
  m.image_size = image_size
  m.heatmap_size = heatmap_size
  m.backbone = backbone_presets.hrnet(48)
  m.freeze_backbone = True               # only the FAMI-Pose additions are trained
  m.backbone_bn_batch_stats = True       # published quirk: frozen backbone BN still in train mode
  m.global_transform = 'translation'     # 'translation' (code) | 'affine' (paper) | 'none'
  m.warp_align_corners = True            # kornia >= 0.5; False reproduces kornia 0.3-0.4
  m.gtm_channels = 16
  m.gtm_num_downsamples = 5              # 96x72 -> 3x3
  m.gtm_hidden_features = (64, 64)       # Linear 144->64->64->(2 or 6), no activations
  m.local_calibration = True
  m.dcn_kernel_size = 3
  m.dcn_dilation = 3
  m.dcn_offset_groups = 12
  m.dcn_mask_activation = 'none'         # 'none' (code: raw mask) | 'sigmoid' (DCNv2 paper)
  m.support_blocks = 2                   # sup_agg_block: BasicBlocks on the N warped features
  m.combine_blocks = 1                   # combined_feat_layers
  m.fusion_blocks = 3                    # init_feature_agg_block
  m.head_kernel_size = 3                 # agg_final_layer
  m.simcc_split_ratio = simcc_split_ratio
  m.conv_init_std = 0.001                # every Conv2d ~ N(0, 0.001), biases 0
  m.dtype = 'float32'                    # compute dtype ('bfloat16' on accelerators)

  # ---- data ----
  d = config.data = ml_collections.ConfigDict()
  d.dataset = 'posetrack17'              # | 'posetrack18' | 'posetrack21' | 'synthetic'
  d.root = ''                            # dataset folder (see README: data layout)
  d.synthetic_variant = ''               # 'synthetic': '' any dataset at root ('default' made if
                                         #   absent); a named variant: exactly its settings
  d.image_size = image_size
  d.heatmap_size = heatmap_size
  d.num_joints = num_joints
  d.supporting_offsets = (-2, -1, 1, 2)  # relative frame indices, in the model's order
  d.boundary_rule = 'published'          # 'published' | 'clamp'
  d.sigma = 3.0                          # heatmap Gaussian std at heatmap resolution
  d.box_enlarge = 1.25
  d.pixel_std = 200.0
  d.scale_factor = 0.35                  # scale = clip(1 + 0.35 N(0,1), 0.65, 1.35)
  d.scale_clip = (0.65, 1.35)
  d.rotation_factor = 45.0               # rotation = clip(45 N(0,1), -90, 90) ...
  d.rotation_clip = 90.0
  d.rotation_prob = 0.6                  # ... with probability 0.6, else 0
  d.flip_prob = 0.5
  d.flip_pairs = joints.FLIP_PAIRS
  d.half_body_prob = 0.3
  d.half_body_min_joints = 8             # more than this many visible joints
  d.half_body_upper_threshold = 0.5      # upper body when N(0,1) < this (as coded)
  d.half_body_scale = 1.5
  d.upper_body_joints = joints.UPPER_BODY_JOINTS
  d.mean = (0.485, 0.456, 0.406)         # ImageNet, RGB
  d.std = (0.229, 0.224, 0.225)
  d.det_score_threshold = 0.2
  d.simcc_sigma = 6.0
  d.simcc_split_ratio = simcc_split_ratio
  d.loader = 'numpy'                     # 'numpy' (no TensorFlow) | 'tfdata'
  d.num_workers = 8
  d.prefetch_batches = 2
  d.on_bad_input = 'error'               # 'error' | 'skip' (counted and logged)
  d.train_json = 'annotations/posetrack_train.json'  # single-file COCO-style GT (paths under root)
  d.val_json = 'annotations/posetrack_val.json'
  d.val_boxes_json = 'annotations/val_boxes.json'    # detector boxes for evaluation
  d.video_annotation_dir = 'annotations'  # per-video GT files: <dir>/<split>/<video>.json
  d.annotation_source = 'coco_json'      # 'coco_json' (single file, as published) | 'per_video'
  d.eval_boxes = 'detections'            # 'detections' (published) | 'ground_truth'
  d.crop_convention = 'size_minus_one'   # clip crop as coded (dark_get_affine_transform) | 'size'
  d.frame_numbering = 'auto'             # 6 digits: from 0 (PT18), else from 1 | 'from0' | 'from1'
  d.decode_reduction = 'off'             # 'auto': reduced JPEG decode where the crop shrinks >= 2x
  d.region_decode = True                 # decode only the crop's part of each JPEG (same pixels)
  d.frame_source = 'folder'              # 'folder' (root/images) | 'tfds' (posetrack_frames)
  d.tfds_data_dir = ''                   # data_dir of the prepared TFDS dataset (default root/tfds)
  d.worker_start_method = 'spawn'        # numpy loader workers: 'spawn' | 'forkserver' (never fork)

  # ---- losses ----
  l = config.loss = ml_collections.ConfigDict()
  l.heatmap_weight = 1.0
  l.mi = 'published'                     # 'published' | 'critic' | 'none'
  l.mi_alpha = 0.5
  l.mi_beta = 0.1
  l.mi_temperature = 0.05
  l.mi_faithful = True                   # True: the published arithmetic; False: true KL
  l.use_target_weight = True             # JointMSELoss / KLDiscretLoss weight joints
  l.simcc_beta = 1.0                     # SimCC/HRNet: log_softmax(pred * 1), no temperature
  l.simcc_label_softmax = False          # SimCC/HRNet: Gaussian labels used as given
  l.simcc_batch_reduction = 'mean'       # 'mean' (SimCC code) | 'sum' (mmpose)
  l.mi_critic_hidden = 64                # 'critic': per-pixel score-head width (not published)
  l.mi_critic_weight = 1e-3              # 'critic': network MI objective scale (not published)
  l.mi_critic_term_weights = (1.0, 1.0, 1.0)  # max I(y;Z~|Zt), min I(y;Zs|Z~), min I(y;Zt|Z~)
  l.mi_critic_fit_weight = 1.0           # 'critic': critics' own objective (critic params only)

  # ---- optimiser ----
  o = config.optim = ml_collections.ConfigDict()
  o.learning_rate = 1e-3                 # Adam, no weight decay
  o.b1 = 0.9
  o.b2 = 0.999
  o.eps = 1e-8
  o.weight_decay = 0.0
  o.lr_decay_epochs = (8, 12, 16)        # the config's MILESTONES [10, 15] are never read
  o.lr_decay_factor = 0.1

  # ---- training loop (train.py; not published numbers: bookkeeping) ----
  t = config.train = ml_collections.ConfigDict()
  t.log_every_steps = 100                # metrics: TensorBoard + workdir/metrics.jsonl
  t.checkpoint_every_steps = 1000        # also saved after every epoch and on SIGTERM/SIGINT
  t.keep_checkpoints = 3
  t.async_checkpointing = True
  t.on_corrupt_checkpoint = 'error'      # 'fall_back': resume from the newest intact checkpoint
  t.eval_every_epochs = 0                # 0: evaluate once, after the last epoch
  t.pretrain_epochs = 0                  # > 0 (and no init_from): train the single-frame
  t.pretrain_lr_decay_epochs = ()        #   backbone first, in workdir/pretrain (the demo)
  t.num_vis_samples = 8                  # crops drawn in workdir/predictions/*.png
  t.progress_bar = True                  # drawn only when stderr is a terminal
  t.distributed = False                  # call jax.distributed.initialize() first
  t.coordinator_address = ''             # '' = auto-detect (SLURM, Open MPI, TPU, ...)
  t.num_processes = 0                    # 0 = auto-detect
  t.process_id = -1                      # -1 = auto-detect
  t.heartbeat_timeout_seconds = 100      # a process silent this long stops the others (JAX's)

  # ---- evaluation ----
  e = config.eval = ml_collections.ConfigDict()
  e.dark = False
  e.dark_kernel_size = 11                # DARK's Gaussian blur (OpenCV sigma for size 11 = 2)
  e.quarter_offset = 0.25                # sub-pixel step toward the larger neighbour (no DARK)
  e.flip_test = False
  e.flip_shift_heatmap = True            # HRNet SHIFT_HEATMAP: flipped maps move 1 px right
  e.joint_score = 'times_box_score'      # 'times_box_score' (published) | 'raw'
  e.missing_frame_score = -100.0         # dummy point for frames with no prediction
  e.pckh_threshold = 0.5
  e.head_size_factor = 0.6
  e.prediction_layout = 'posetrack17'    # layout of written prediction files (published: annolist)
  return config
