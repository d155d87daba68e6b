"""The desk's widgets: the status bar and the verdict panel."""
