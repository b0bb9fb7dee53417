"""thetascope: how the rotation angle θ of contrastive self-supervised pre-training shapes
what a network attends to, dataset by dataset.

Run ``thetascope run`` for the built-in demo, ``thetascope --help`` for everything else.
"""

__version__ = "0.1.0"
