"""Tests of the analyst console and report.html."""
