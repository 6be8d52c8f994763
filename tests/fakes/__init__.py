"""Fake upstream providers speaking the real OpenAI and Anthropic wire formats."""
