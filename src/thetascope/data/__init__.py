"""Datasets: loaders for each on-disk layout, preprocessing, and the registry."""
