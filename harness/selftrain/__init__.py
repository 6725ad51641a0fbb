"""Pseudo-label selection for the self-training family (ST, CBST, CBST-SP)."""
