"""luthien_litellm_plugin."""
