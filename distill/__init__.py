"""Distillation: labelled utterances -> small INT8 ONNX intent model bundles for devices."""
