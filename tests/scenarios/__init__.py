"""End-to-end scenarios across the packages: the main flow, faults, durability, abuse, and the browser."""
