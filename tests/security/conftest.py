"""Shared pieces of the security tests: everything listens on loopback only."""
