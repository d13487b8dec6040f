"""akashic."""
