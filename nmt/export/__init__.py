"""`nmt export`: what every format checks, ONNX and CTranslate2."""
