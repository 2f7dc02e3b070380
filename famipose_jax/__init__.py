"""FAMI-Pose in JAX/Flax: temporal feature alignment and mutual information for video pose.

    import famipose_jax as fp
    predictor = fp.Predictor.from_checkpoint('runs/demo')   # a workdir, checkpoint or model folder
    frames = fp.open_frames('clip.mp4')                      # or a folder of frame images
    boxes = fp.detect_person_tracks(frames)     # or fp.link_tracks(fp.read_box_file(...))
    poses = predictor.predict(frames, boxes)                 # poses[t][i].keypoints: [17, 3]
    fp.write_poses('clip.json', frames.name, frames.names, poses)   # PoseTrack 2018, track ids

The names below are imported on first use, so `import famipose_jax` stays cheap (the data
pipeline's worker processes import parts of this package without JAX).
"""

import importlib

# Public name -> (module, attribute).
_EXPORTS = {
    # configs and the network
    'published_config': ('famipose_jax.config.defaults', 'published_config'),
    'validate_config': ('famipose_jax.config.schema', 'validate_config'),
    'ConfigError': ('famipose_jax.config.schema', 'ConfigError'),
    'Experiment': ('famipose_jax.experiment', 'Experiment'),
    'build_model': ('famipose_jax.models', 'build_model'),
    # trained variables
    'TrainedModel': ('famipose_jax.checkpoints.trained_model', 'TrainedModel'),
    'load_trained_model': ('famipose_jax.checkpoints.trained_model', 'load_trained_model'),
    'save_model_folder': ('famipose_jax.checkpoints.trained_model', 'save_model_folder'),
    # training and evaluation
    'train_and_evaluate': ('famipose_jax.train.loop', 'train_and_evaluate'),
    'evaluate': ('famipose_jax.train.loop', 'evaluate'),
    'evaluate_folders': ('famipose_jax.evaluation', 'evaluate_folders'),
    # your own video
    'Predictor': ('famipose_jax.inference.predictor', 'Predictor'),
    'PersonPose': ('famipose_jax.inference.predictor', 'PersonPose'),
    'open_frames': ('famipose_jax.inference.video_frames', 'open_frames'),
    'PersonBox': ('famipose_jax.inference.person_boxes', 'PersonBox'),
    'read_box_file': ('famipose_jax.inference.person_boxes', 'read_box_file'),
    'full_frame_boxes': ('famipose_jax.inference.person_boxes', 'full_frame_boxes'),
    'PersonDetector': ('famipose_jax.inference.person_detector', 'PersonDetector'),
    'link_tracks': ('famipose_jax.inference.box_tracker', 'link_tracks'),
    'detect_person_tracks': ('famipose_jax.inference.person_tracks', 'detect_person_tracks'),
    'write_poses': ('famipose_jax.inference.posetrack_output', 'write_poses'),
    # one file that runs without this package
    'export_inference': ('famipose_jax.export.jax_export', 'export_inference'),
    'load_inference': ('famipose_jax.export.jax_export', 'load_inference'),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name not in _EXPORTS:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, attribute = _EXPORTS[name]
  value = getattr(importlib.import_module(module), attribute)
  globals()[name] = value   # later lookups skip this function
  return value


def __dir__():
  return sorted(set(globals()) | set(_EXPORTS))
