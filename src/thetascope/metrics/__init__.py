"""Overlap metrics between saliency maps and ground-truth masks."""
