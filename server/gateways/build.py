"""The carrier gateway the settings ask for (LIVEROOM_CARRIER_GATEWAY): None in sandbox mode (waybills at once,
no network), Kdniao (with Kuaidi100 subscriptions for LIVEROOM_KUAIDI100_CARRIERS), or Kuaidi100 alone."""

from __future__ import annotations

from server.gateways import Gateway
from server.gateways.kdniao import KdniaoGateway
from server.gateways.kuaidi100 import Kuaidi100Subscriptions
from server.settings import Settings

# Where Kuaidi100 pushes what we subscribe (server/api/carriers.py, `kuaidi100_push`). Kdniao's push address is
# set in Kdniao's console (1008 has no URL field): point it at /api/v1/carriers/kdniao/push.
KUAIDI100_PUSH_PATH = "/api/v1/carriers/kuaidi100/push"
TIMEOUT_S = 10.0  # each outbound request: connect within 5 s, the whole answer within this
MAX_CONNECTIONS = 20  # per gateway: the worker keeps a few requests in flight, never hundreds


def kuaidi100_subscriptions(settings: Settings) -> Kuaidi100Subscriptions:
    return Kuaidi100Subscriptions(
        settings.kuaidi100_key,
        settings.public_url.rstrip("/") + KUAIDI100_PUSH_PATH,
        settings.kuaidi100_salt,
        customer=settings.kuaidi100_customer,
        api_url=settings.kuaidi100_api_url,
        timeout=TIMEOUT_S,
        max_connections=MAX_CONNECTIONS,
    )


def make_gateway(settings: Settings) -> Gateway | None:
    """The gateway for `settings.carrier_gateway`; None for sandbox. Checks the settings first (SettingsError
    naming what is missing)."""
    settings.check_gateway()
    if settings.carrier_gateway == "kdniao":
        return KdniaoGateway(
            settings.kdniao_business_id,
            settings.kdniao_appkey,
            settings.kdniao_api_url,
            settings.kdniao_pay_type,
            settings.kdniao_exp_type,
            timeout=TIMEOUT_S,
            max_connections=MAX_CONNECTIONS,
            kuaidi100=kuaidi100_subscriptions(settings) if settings.kuaidi100_carriers else None,
            kuaidi100_carriers=settings.kuaidi100_carriers,
        )
    if settings.carrier_gateway == "kuaidi100":
        return kuaidi100_subscriptions(settings)
    return None
