"""Model construction, loading and data packing."""
