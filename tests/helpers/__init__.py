"""Test helpers: real servers, processes and fixtures the tests share (imported as `helpers.x`)."""
