"""Inbound policy building blocks: DNS block lists, local allow/block lists, rate limits,
greylisting and content scanners (rspamd, ClamAV).

Each module does one check and returns a typed decision; `smtp/inbound.py` decides when to ask
and turns decisions into replies. Settings come in as plain dataclasses so these modules do not
depend on the config schema.

* `dnsbl`: `check_ip` / `check_domain` -> `DnsblResult(listings, errors)`;
* `lists`: `LocalLists.parse(allow, block).decide(ip, sender, client_names)` -> `ListDecision`;
* `ratelimit`: `RateLimiter(rates).try_take(kind, key)` -> `(ok, retry_after)`, `rate_reply`;
* `greylist`: `Greylister(settings, astore).check(...)` -> `GreylistResult` (`.reply`);
* `rspamd`, `clamd`: `RspamdClient(settings).scan(envelope, parts)`,
  `ClamdClient(settings).scan(parts)` -> `verdict.ScanVerdict` (`.action`, `.reply`).
"""
