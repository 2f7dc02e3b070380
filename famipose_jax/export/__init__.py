"""A trained network as one file that runs without this package (jax.export, ONNX)."""
