"""Operator commands behind `askcall check | webhook | export | purge | db`.

A sibling of bot.app, not above or below it: neither imports the other. The retention these commands run
is a service (bot.services.retention), shared with `askcall serve`; `askcall demo` is bot.demo.
"""
