"""HKPL-08 sign-in against guessing: a card number nobody has is answered exactly as a real
one with a wrong secret, after the same slow work; repeated failures wait (429 with
``Retry-After``, by the injectable clock) per card or HKID number and per client, the same
for numbers nobody has; and a wait always ends, so whoever types a patron's (sequential)
card number cannot shut them out."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import httpx
from argon2 import PasswordHasher

from services.circulation.domain.hashing import SecretHasher
from tests.integration.circulation import conftest
from tests.integration.circulation.conftest import open_desk


@contextlib.asynccontextmanager
async def from_client(desk, host: str):
    """The same library, called from another address."""
    transport = httpx.ASGITransport(app=desk.client._transport.app, client=(host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url=desk.client.base_url) as c:
        yield c


async def sign_in(client: httpx.AsyncClient, identifier: str, secret: str) -> httpx.Response:
    return await client.post(
        "/api/v1/patron-sessions", json={"identifier": identifier, "secret": secret}
    )


def answer(res: httpx.Response) -> tuple[int, dict, str | None]:
    return res.status_code, res.json(), res.headers.get("retry-after")


async def test_HKPL_08_a_real_card_and_an_unknown_one_are_answered_alike_and_wait_alike(desk):
    real = (await desk.register())["card_number"]
    nobody = desk.unique("C")  # the next number, nobody's
    for n in range(5):
        async with from_client(desk, f"10.1.0.{n}") as c:
            assert answer(await sign_in(c, real, "wrong-guess")) == answer(
                await sign_in(c, nobody, "wrong-guess")
            )
    async with from_client(desk, "10.1.1.1") as c:
        known, unknown = await sign_in(c, real, "s3cret-pass"), await sign_in(c, nobody, "x")
    assert known.status_code == 429 and known.json()["rules"] == ["HKPL-08"]
    assert known.headers["Retry-After"] == "60"
    assert answer(known) == answer(unknown)
    desk.clock.advance(seconds=30)
    async with from_client(desk, "10.1.1.2") as c:
        res = await sign_in(c, real, "s3cret-pass")
    assert res.status_code == 429 and res.headers["Retry-After"] == "30"


async def test_HKPL_08_the_wait_ends_and_the_real_patron_gets_in_from_another_client(desk):
    patron = await desk.register()
    card = patron["card_number"]
    async with from_client(desk, "10.2.0.1") as stranger:
        for _ in range(5):
            assert (await sign_in(stranger, card, "0000")).status_code == 401
        assert (await sign_in(stranger, card, "0001")).status_code == 429
    async with from_client(desk, "10.2.0.2") as own:
        assert (await sign_in(own, card, "s3cret-pass")).status_code == 429
        desk.clock.advance(seconds=60)  # the wait is over, by the library's clock
        res = await sign_in(own, card, "s3cret-pass")
        assert res.status_code == 201, res.text
        me = await own.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {res.json()['access_token']}"}
        )
        assert me.status_code == 200
    account = (await desk.get(f"/api/v1/patrons/{patron['patron']['patron_id']}")).json()
    assert account["sign_in_locked"] is False


async def test_HKPL_08_a_client_guessing_many_card_numbers_waits(desk):
    cards = [(await desk.register())["card_number"] for _ in range(3)]
    async with from_client(desk, "10.3.0.1") as guesser:
        for n in range(20):
            res = await sign_in(guesser, cards[n % 3] if n % 2 else desk.unique("C"), "4567x")
            assert res.status_code == 401
        res = await sign_in(guesser, cards[0], "s3cret-pass")
        assert res.status_code == 429 and res.headers["Retry-After"] == "60"
    async with from_client(desk, "10.3.0.2") as other:
        assert (await sign_in(other, cards[0], "s3cret-pass")).status_code == 201


async def test_HKPL_08_guesses_sent_at_once_are_counted_like_guesses_in_a_row(desk):
    card = (await desk.register())["card_number"]
    async with from_client(desk, "10.4.0.1") as c:
        answers = await asyncio.gather(*(sign_in(c, card, f"guess{n}") for n in range(8)))
    assert sorted(r.status_code for r in answers) == [401] * 5 + [429] * 3


async def test_HKPL_08_argon2_runs_off_the_event_loop_and_as_often_for_any_identifier(
    database_url, clock, monkeypatch
):
    """Eight sign-ins at once must not stall the process: every hash and verification runs
    in a worker thread, for sign-in, registration, a password and a phone number change."""

    class Recording(PasswordHasher):
        def __init__(self) -> None:
            super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
            self.calls: list[tuple[str, int]] = []

        def hash(self, password, *, salt=None):
            self.calls.append(("hash", threading.get_ident()))
            return super().hash(password, salt=salt)

        def verify(self, hash, password):
            self.calls.append(("verify", threading.get_ident()))
            return super().verify(hash, password)

    argon2 = Recording()
    monkeypatch.setattr(conftest, "CHEAP_HASHER", SecretHasher(argon2))
    loop_thread = threading.get_ident()
    async with open_desk(database_url, clock) as desk:
        patron = await desk.register(phone="+852 9123 4567")
        pid, card = patron["patron"]["patron_id"], patron["card_number"]
        headers = desk.staff
        res = await desk.client.put(
            f"/api/v1/patrons/{pid}/password", json={"password": "new-pass-1"}, headers=headers
        )
        assert res.status_code == 204
        res = await desk.client.patch(
            f"/api/v1/patrons/{pid}", json={"phone": "+852 6000 1234"}, headers=headers
        )
        assert res.status_code == 200
        assert {kind for kind, _ in argon2.calls} == {"hash"}
        verifications = {}
        for identifier in (card, desk.unique("C"), desk.hkid()):
            before = len(argon2.calls)
            assert (await desk.sign_in(identifier, "wrong-guess")).status_code == 401
            verifications[identifier] = [k for k, _ in argon2.calls[before:]].count("verify")
        assert set(verifications.values()) == {2}, verifications
        cards = [(await desk.register())["card_number"] for _ in range(8)]
        answers = await asyncio.gather(*(desk.sign_in(c, "s3cret-pass") for c in cards))
        assert {r.status_code for r in answers} == {201}
    assert argon2.calls and all(thread != loop_thread for _, thread in argon2.calls)
