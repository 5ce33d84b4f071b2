"""Code every Support Copilot service imports; it imports none of them."""
