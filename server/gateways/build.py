"""PLACEHOLDER (branch gw-core): the real `make_gateway` is written in branch gw-wire; at the merge take theirs.

Same signature: the gateway for `settings.carrier_gateway`, None for sandbox, settings checked first."""

from __future__ import annotations

from server.gateways import Gateway
from server.settings import Settings


def make_gateway(settings: Settings) -> Gateway | None:
    settings.check_gateway()
    if settings.carrier_gateway == "sandbox":
        return None
    raise NotImplementedError("the gateway clients come with branch gw-wire (server/gateways/build.py)")
