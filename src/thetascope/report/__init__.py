"""Figures and summaries of a finished run: the only layer that draws."""
