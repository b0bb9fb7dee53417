"""The benchmark suite behind ``thetascope bench``: each row a ratio to a named baseline
measured in the same run on identical inputs (see docs/PERFORMANCE.md)."""
