"""Tests of bot/report: the offline report, its HTML in a browser, the audit export."""
