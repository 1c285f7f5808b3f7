"""Benign, code-generated demo material: synthetic images, their variants, and deliberately broken files."""
