"""Orientation analysis, independent of training: signed gradient-orientation histograms,
their rotational self-overlap S(θ), and the papers' HoG + SVM rotation-detection test A(θ)."""
