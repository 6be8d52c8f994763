import asyncio

import pytest

from luthien_litellm_plugin.streaming.channel import Channel, ClosedChannelError


async def test_items_arrive_in_order_and_close_ends_iteration() -> None:
    channel: Channel[int] = Channel()
    for item in (1, 2, 3):
        channel.send_nowait(item)
    channel.close()
    assert [item async for item in channel] == [1, 2, 3]


async def test_close_with_error_raises_after_draining() -> None:
    channel: Channel[int] = Channel()
    channel.send_nowait(1)
    channel.close(ValueError("upstream broke"))
    received = [await channel.receive()]
    with pytest.raises(ValueError, match="upstream broke"):
        await channel.receive()
    assert received == [1]


async def test_waiting_receiver_is_woken_by_send() -> None:
    channel: Channel[str] = Channel()
    # The send is scheduled for after `receive` has parked on its waiter (the channel is empty).
    asyncio.get_running_loop().call_soon(channel.send_nowait, "x")
    assert await channel.receive() == "x"


async def test_send_after_close_fails_and_second_close_is_ignored() -> None:
    channel: Channel[int] = Channel()
    channel.close()
    channel.close(RuntimeError("late"))
    with pytest.raises(ClosedChannelError):
        channel.send_nowait(1)
    assert [item async for item in channel] == []


async def test_receive_available_takes_everything_sent_then_the_end_or_the_error() -> None:
    channel: Channel[int] = Channel()
    channel.send_nowait(1)
    channel.send_nowait(2)
    assert await channel.receive_available() == [1, 2]

    def send_then_fail() -> None:
        channel.send_nowait(3)
        channel.close(ValueError("upstream broke"))

    # Runs after `receive_available` has parked on its waiter (the channel is empty).
    asyncio.get_running_loop().call_soon(send_then_fail)
    assert await channel.receive_available() == [3]
    with pytest.raises(ValueError, match="upstream broke"):
        await channel.receive_available()
    clean: Channel[int] = Channel()
    clean.close()
    assert await clean.receive_available() == []
