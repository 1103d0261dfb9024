"""Tests of the online stage."""
