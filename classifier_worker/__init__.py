"""Classifies tickets from queue `classify`: category, priority, sentiment, entities, confidence."""
