"""One PoseTrack video file (ground truth or predictions), in either published layout.

PoseTrack ships one JSON file per video in two layouts:

* ``posetrack17`` ("annolist"): a list of frames, each with ``image: [{name}]``, ``imgnum``,
  ``is_labeled``, ``ignore_regions`` polygons and ``annorect`` persons carrying a head box
  ``x1, y1, x2, y2``, ``track_id``, ``score`` and ``annopoints: [{point: [{id, x, y,
  is_visible | score}]}]`` with poseval joint ids 0..14. Values are usually 1-element lists.
* ``posetrack18`` (COCO-style, also PoseTrack21): ``images`` with ``id, file_name, frame_id,
  vid_id, nframes, is_labeled, ignore_regions_x/_y`` and ``annotations`` with ``image_id,
  track_id, bbox, bbox_head, keypoints`` (17 x (x, y, v)) and, for predictions, ``scores``.

Both read into the same dataclasses (`records`) with keypoints in the 17-slot layout of
`data_pipeline.joints`; the writer produces either layout, so converting a file is a read
followed by a write.

  records.py             layouts, kinds, PersonAnnotation / FrameAnnotation / VideoAnnotation
  reader.py              read_video / parse_video: detect the layout, parse it
  posetrack17_reader.py  the annolist layout
  posetrack18_reader.py  the COCO-style layout
  fields.py              checked values, errors naming the file, the field and the value
  writer.py              to_posetrack17 / to_posetrack18 / write_video

    from data_pipeline import posetrack_video as ptv
    video = ptv.read_video(path, ptv.PREDICTIONS)
    ptv.write_video(video, out_path, layout=ptv.POSETRACK17, kind=ptv.PREDICTIONS)
"""

from data_pipeline.posetrack_video.fields import PoseTrackFileError
from data_pipeline.posetrack_video.records import (
    GROUND_TRUTH, KINDS, LAYOUTS, MISSING_SCORE, POSETRACK17, POSETRACK18, PREDICTIONS,
    FrameAnnotation, PersonAnnotation, VideoAnnotation)
from data_pipeline.posetrack_video.reader import detect_layout, parse_video, read_video
from data_pipeline.posetrack_video.writer import to_posetrack17, to_posetrack18, write_video

__all__ = [
    'GROUND_TRUTH', 'KINDS', 'LAYOUTS', 'MISSING_SCORE', 'POSETRACK17', 'POSETRACK18',
    'PREDICTIONS', 'FrameAnnotation', 'PersonAnnotation', 'VideoAnnotation', 'detect_layout',
    'parse_video', 'read_video', 'to_posetrack17', 'to_posetrack18', 'write_video',
]
