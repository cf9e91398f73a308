"""A distributed inter-library loan federation for fault tests: the union catalogue, the
consortium's request broker (``requests``), the notifier and four libraries (HKU and EdUHK of
HKALL, UM and KWNC of MALA), each its own OS process started the way ``python -m
deploy.launch up`` starts them (``serve-unit``), on free ports, against databases and a
RabbitMQ virtual host of their own, so that a test can SIGKILL any one of them and start it
again while loans go on.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from deploy.queues import federation_queues
from libs.common.db import drop_database, ensure_database, pg_url
from libs.common.federation import Federation, load_federation
from libs.common.messaging import broker_password
from libs.common.messaging.broker_admin import delete_vhost, setup_broker
from libs.common.messaging.topology import principals
from libs.common.migrate import upgrade
from libs.common.settings import DEV_SECRET
from tests.faults.proc_helpers import RABBIT, Unit, free_port

#: (code, consortium): each library borrows from the other member of its consortium
LIBRARIES = (("hku", "HKALL"), ("eduhk", "HKALL"), ("um", "MALA"), ("kwnc", "MALA"))
CONSORTIA = {
    "HKALL": ("Hong Kong Academic Library Link", "HKD", "Asia/Hong_Kong", "hkall"),
    "MALA": ("Macau Academic Library Alliance", "MOP", "Asia/Macau", "mala"),
}
SERVICE_POINT = "main"
OPERATOR = "operator"


def federation_toml(ports: dict[str, int]) -> str:
    out = [
        '[federation]\nname = "ILL fault-test federation"\nhost = "127.0.0.1"',
        f"[services.catalog]\nport = {ports['catalog']}",
        f"[services.requests]\nport = {ports['requests']}",
        f"[services.notifier]\nport = {ports['notifier']}\nsmtp_port = {ports['smtp']}",
    ]
    for code, (name, currency, tz, policy) in CONSORTIA.items():
        out.append(
            f'[consortia.{code}]\nname = "{name}"\ncurrency = "{currency}"\n'
            f'timezone = "{tz}"\npolicy = "{policy}"'
        )
    for code, consortium in LIBRARIES:
        out.append(
            f'[[libraries]]\ncode = "{code}"\nname = "{code.upper()} Library"\n'
            f'consortium = "{consortium}"\nport = {ports[code]}\n'
            f'email = "ill@{code}.example.edu"\n'
            f'service_points = [{{ code = "{SERVICE_POINT}", name = "{code.upper()} counter" }}]'
        )
    out.append(f'[[operators]]\nclient_id = "{OPERATOR}"\nname = "Operations"')
    return "\n\n".join(out) + "\n"


@dataclass
class IllFederation:
    folder: Path
    fed: Federation
    vhost: str
    admin_url: str
    db: dict[str, str] = field(default_factory=dict)  # unit key -> database URL
    units: dict[str, Unit] = field(default_factory=dict)

    @property
    def broker(self) -> Unit:
        return self.units["requests"]

    @property
    def catalog(self) -> Unit:
        return self.units["catalog"]

    def library(self, code: str) -> Unit:
        return self.units[f"circulation-{code}"]

    @property
    def libraries(self) -> list[str]:
        return [code for code, _ in LIBRARIES]

    def consortium(self, code: str) -> str:
        return dict(LIBRARIES)[code]

    def partner(self, code: str) -> str:
        """The other member of ``code``'s consortium: the lender of its patrons' loans."""
        c = self.consortium(code)
        return next(other for other, oc in LIBRARIES if oc == c and other != code)

    async def restart(self, unit: Unit, *, down_for: float = 0.0) -> None:
        """SIGKILL ``unit``, leave it down ``down_for`` seconds, start it and wait until ready."""
        unit.kill()
        if down_for:
            await asyncio.sleep(down_for)
        unit.start()
        await unit.wait_ready(timeout=120.0)


def _write_federation(folder: Path, ports: dict[str, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fed_file = folder / "federation.toml"
    fed_file.write_text(federation_toml(ports))
    return fed_file


async def start_ill_federation(folder: Path) -> IllFederation:
    """Databases (migrated), broker users and topology, then every unit started and ready."""
    names = ["catalog", "requests", "notifier", "smtp", *(c for c, _ in LIBRARIES)]
    ports = {k: free_port() for k in names}
    fed_file = _write_federation(folder, ports)
    fed = load_federation(fed_file)
    vhost = f"illfed-ill-faults-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    admin_url = f"amqp://guest:guest@{RABBIT}/{vhost}"
    tf = IllFederation(folder, fed, vhost, admin_url)
    passwords = {p: broker_password(DEV_SECRET, p) for p in principals(fed)}
    tag = uuid.uuid4().hex[:8]
    keys = [
        ("catalog", "catalog", ports["catalog"]),
        ("requests", "requests", ports["requests"]),
        ("notifier", "notifier", ports["notifier"]),
        *((f"circulation-{c}", "circulation", ports[c]) for c, _ in LIBRARIES),
    ]
    for key, _, _ in keys:
        tf.db[key] = pg_url(f"illfed_illfaults_{tag}_{key.replace('-', '_')}")
    try:
        await setup_broker(admin_url, passwords, federation_queues(fed), fed)
        # CREATE DATABASE waits on a disk flush: all at once they share the waits; alembic
        # runs one migration at a time in a process (as the launcher runs them).
        await asyncio.gather(*(ensure_database(tf.db[key]) for key, _, _ in keys))
        for key, service, _ in keys:
            await upgrade(service, tf.db[key])
        for key, service, port in keys:
            prefix = f"ILLFED_{service.upper()}_"
            env = {
                **os.environ,
                f"{prefix}DATABASE_URL": tf.db[key],
                f"{prefix}BUS_URL": f"amqp://{RABBIT}/{vhost}",
                f"{prefix}SECRET_KEY": DEV_SECRET,
                f"{prefix}ENVIRONMENT": "development",
                f"{prefix}LOG_LEVEL": "WARNING",
                "ILLFED_DATA_DIR": str(folder),
            }
            argv = [
                sys.executable,
                "-m",
                "deploy.launch",
                "--federation",
                str(fed_file),
                "--data",
                str(folder),
                "serve-unit",
                key,
            ]
            tf.units[key] = Unit(key, service, port, env, argv, folder / f"{key}.log")
        for unit in tf.units.values():
            unit.start()
        for unit in tf.units.values():
            await unit.wait_ready(timeout=180.0)
    except BaseException:
        await stop_ill_federation(tf)
        raise
    return tf


async def stop_ill_federation(tf: IllFederation) -> None:
    for unit in tf.units.values():
        unit.stop()
    for url in tf.db.values():
        await drop_database(url)
    await delete_vhost(tf.vhost)
