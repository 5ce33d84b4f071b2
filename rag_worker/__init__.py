"""Drafts grounded replies from queue `draft` and keeps the knowledge-base index (queue `kb`)."""
