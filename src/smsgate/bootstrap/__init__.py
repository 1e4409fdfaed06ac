"""The one place that decides which adapters smsgate runs with, and wires them.

- ``providers``: the configured provider, the outlets (a test key's messages go to the
  sandbox), and where delivery reports come back;
- ``services``: ``build_services(settings, stack, provider=, clock=, counters=, pacing=)``,
  every component constructed, each pushing its close onto the caller's exit stack;
- ``runtime``: ``Runtime``, which opens what was built, runs the one list of background jobs
  and closes it all again;
- ``gates``: what must hold before ``serve`` binds, and the database probe of ``/readyz``.

The faces (``api``, ``cli``) import from here, the package, and nothing below them is wired
anywhere else.
"""

from smsgate.bootstrap.gates import check_database, check_serving, check_spend_priced
from smsgate.bootstrap.providers import (
    STATUS_CALLBACK_PATH,
    build_outlets,
    build_plivo,
    build_provider,
    callback_token,
    check_plivo,
    check_provider,
    own_address,
)
from smsgate.bootstrap.runtime import JobTimes, Runtime, seed_limits
from smsgate.bootstrap.services import (
    Services,
    build_documents,
    build_engine,
    build_services,
    build_webhook_transport,
    limit_settings,
    load_prices,
    make_counters,
    make_pacing,
)

__all__ = [
    "STATUS_CALLBACK_PATH",
    "JobTimes",
    "Runtime",
    "Services",
    "build_documents",
    "build_engine",
    "build_outlets",
    "build_plivo",
    "build_provider",
    "build_services",
    "build_webhook_transport",
    "callback_token",
    "check_database",
    "check_plivo",
    "check_provider",
    "check_serving",
    "check_spend_priced",
    "limit_settings",
    "load_prices",
    "make_counters",
    "make_pacing",
    "own_address",
    "seed_limits",
]
