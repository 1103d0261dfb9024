"""console stage."""
