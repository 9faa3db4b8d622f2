"""Releases as people install them (#77): scripts/release.py, its dist/ (checksums, SBOMs), the Python packages from
a local index and the npm package from a local registry."""
