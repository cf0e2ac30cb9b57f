"""Volumes, geometry, intensity, vocabulary, datalists and region-prompt sampling."""
