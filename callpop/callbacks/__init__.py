"""Callbacks that keep the caller's place: the stored requests and their placing."""
