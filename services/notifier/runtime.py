"""Assembling the notifier: the consumer of notice requests, the delivery loop, and for the
demo federation the local SMTP server that receives what it sends."""

from __future__ import annotations

from pathlib import Path

from libs.common.clock import Clock
from libs.common.contracts import NoticeRequested
from libs.common.db import make_engine
from libs.common.federation import Federation
from libs.common.messaging.consumer import Consumer, Handlers
from libs.common.messaging.delivery import Bus
from libs.common.messaging.topology import NOTIFIER_QUEUE
from libs.common.service import ServiceRuntime
from services.notifier.adapters.consumer import on_notice_requested
from services.notifier.adapters.delivery import DeliveryLoop, DeliveryWorker
from services.notifier.adapters.mailbox import Mailbox
from services.notifier.adapters.smtp import SmtpSettings
from services.notifier.adapters.tables import inbox
from services.notifier.settings import NotifierSettings

#: what the notifier's queue takes, by contract class (its bindings come from here)
HANDLERS: Handlers = {NoticeRequested: on_notice_requested}


class _Background:
    """Starts the delivery loop with the service and lets its pass finish on the way out."""

    def __init__(self, loop: DeliveryLoop) -> None:
        self.loop = loop

    async def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()


def build_runtime(
    fed: Federation,
    database_url: str,
    bus: Bus,
    clock: Clock,
    *,
    smtp: SmtpSettings | None = None,
    mailbox_port: int | None = None,
    mailbox_folder: Path | None = None,
    poll_interval: float = 5.0,
    settings: NotifierSettings | None = None,
) -> ServiceRuntime:
    """The notifier's runtime. ``settings`` default to the environment (ILLFED_NOTIFIER_*).

    Mail goes to ``smtp`` when given, else to the server the settings name; only when
    neither names one does the local mailbox on ``mailbox_port`` start and receive it, so
    a deployment that configured its mail server never has notices caught by the demo.
    """
    settings = settings or NotifierSettings()
    smtp = smtp or settings.smtp()
    engine = make_engine(database_url, generic_plans=True)
    rt = ServiceRuntime(name="notifier", principal="notifier", engine=engine, bus=bus, clock=clock)
    if smtp is None and mailbox_port is not None:
        mailbox = Mailbox(fed.federation.host, mailbox_port, folder=mailbox_folder)
        rt.components.append(mailbox)
        rt.extras["mailbox"] = mailbox
        smtp = SmtpSettings(host=fed.federation.host, port=mailbox_port)
    rt.extras["mailbox_enabled"] = settings.mailbox_enabled
    worker = DeliveryWorker(
        engine,
        smtp or SmtpSettings(),
        clock,
        renderer=settings.renderer(),
        retry=settings.retry(),
    )
    loop = DeliveryLoop(worker, poll_interval=poll_interval)
    rt.components.append(_Background(loop))
    rt.extras["delivery"] = loop
    libraries = {lib.code for lib in fed.libraries}
    rt.consumers.append(
        Consumer(
            "notifier",
            NOTIFIER_QUEUE,
            engine,
            inbox,
            bus,
            clock,
            HANDLERS,
            allowed_senders=libraries.__contains__,
            context=clock,
            after_commit=loop.wake,
        )
    )
    return rt
