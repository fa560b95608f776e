"""Scheduled syncs run by the operating system: the files each scheduler reads, and installing them."""
