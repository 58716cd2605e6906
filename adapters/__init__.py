"""Sync daemons that keep third-party platforms and the commerce API in step."""
