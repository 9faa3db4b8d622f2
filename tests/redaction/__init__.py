"""Tests of bot/redaction: hidden values found, stored redacted, sealed apart, restored, ended."""
