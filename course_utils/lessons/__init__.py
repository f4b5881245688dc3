"""Code that only one notebook uses: its datasets, demonstrations and widgets."""
