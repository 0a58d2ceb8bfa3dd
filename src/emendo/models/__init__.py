"""Training, ONNX export and parity checks for the correctors. See issue 4."""
