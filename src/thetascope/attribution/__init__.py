"""Saliency: the scalar targets explained and SmoothGrad over them."""
