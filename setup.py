"""Builds the optional region-of-interest JPEG decoder; everything else is in pyproject.toml.

It needs libjpeg-turbo's headers (Debian/Ubuntu: libjpeg-turbo8-dev or libjpeg62-turbo-dev).
Without them the build is skipped with a warning and frames are decoded whole by OpenCV,
which gives the same pixels, only slower (`data_pipeline.frame_source`).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension('data_pipeline._jpeg_region', ['data_pipeline/_jpeg_region.c'],
                             libraries=['jpeg'], optional=True)])
