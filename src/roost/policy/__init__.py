"""Inbound policy building blocks: DNS block lists, local allow/block lists, rate limits,
greylisting and content scanners (rspamd, ClamAV).

Each module does one check and returns a typed decision; `smtp/inbound.py` decides when to ask
and turns decisions into replies. Settings come in as plain dataclasses so these modules do not
depend on the config schema.
"""
