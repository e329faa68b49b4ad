"""Bring your own model (issue 16): ONNX files read as convcalc networks (onnx_graph, onnx_ops).
The onnx package is an optional extra: ``pip install "convcalc[onnx]"``."""
