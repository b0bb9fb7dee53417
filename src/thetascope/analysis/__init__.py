"""Analysis of per-image scores: aggregation over images and seeds with CIs."""
