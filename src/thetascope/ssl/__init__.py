"""Self-supervised pre-training: backbones, the MoCo v2 module, pairs and the loop."""
