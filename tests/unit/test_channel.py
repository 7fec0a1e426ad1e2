"""The direct replica → shard socket: framed batches, the secret, and a broken link."""

from __future__ import annotations

import asyncio

import pytest

from actors.channel import Channel, ChannelClosed, Endpoint, serve


async def _echo_server(secret: bytes) -> tuple[asyncio.Server, Endpoint]:
    async def apply(payload: bytes) -> bytes:
        return payload[::-1]

    server = await serve("127.0.0.1", secret, apply)
    return server, Endpoint("127.0.0.1", server.sockets[0].getsockname()[1], secret)


async def test_batches_go_back_and_forth_in_order() -> None:
    server, endpoint = await _echo_server(b"s" * 16)
    link = await Channel.open(endpoint, 1.0)
    assert [await link.request(p) for p in (b"abc", b"", b"x" * 100_000)] == [
        b"cba",
        b"",
        b"x" * 100_000,
    ]
    link.close()
    server.close()


async def test_a_wrong_secret_gets_the_connection_closed() -> None:
    server, endpoint = await _echo_server(b"s" * 16)
    link = await Channel.open(Endpoint(endpoint.host, endpoint.port, b"t" * 16), 1.0)
    with pytest.raises(ChannelClosed):
        await link.request(b"abc")
    assert link.closed
    server.close()


async def test_a_shard_that_went_away_fails_the_batch_as_channel_closed() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # as a killed shard's socket does

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    link = await Channel.open(Endpoint("127.0.0.1", port, b"s" * 16), 1.0)
    with pytest.raises(ChannelClosed):
        await link.request(b"ab")
    assert link.closed
    server.close()
