"""Tests of bot/store against a real redis-server: the decide step, fencing, the Home indexes."""
