"""Evaluating generative models: likelihood units and, for samples, feature-space distances."""
