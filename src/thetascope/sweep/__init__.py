"""Sweeps: the grid of cells, running one cell, and the crash-safe results store."""
