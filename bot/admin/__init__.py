"""Operator commands behind `askcall check | webhook | demo | export | purge`, and data retention."""
