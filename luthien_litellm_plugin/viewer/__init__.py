"""The transaction viewer: pages and a JSON API mounted at `/luthien/` in LiteLLM Proxy's own app.

Only the proxy's master key opens it (as `Authorization: Bearer` / `x-api-key`, or through the
login form, which sets a signed session cookie). It reads the recording database through
`luthien_litellm_plugin.history` and never writes to it.
"""
