"""The web shell: a Litestar app assembled from the enabled plugins' routes."""
