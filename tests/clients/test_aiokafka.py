"""aiokafka: produce and consume with asyncio."""

import asyncio


def test_produce_and_consume(broker):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def main():
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            metas = [await producer.send_and_wait("aio", f"m{i}".encode(), key=b"k") for i in range(200)]
            batch = producer.create_batch()
            for i in range(200, 300):
                batch.append(key=None, value=f"m{i}".encode(), timestamp=None)
            fut = await producer.send_batch(batch, "aio", partition=0)
            await fut
        finally:
            await producer.stop()
        assert [m.offset for m in metas] == list(range(200))

        consumer = AIOKafkaConsumer("aio", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", group_id=None)
        await consumer.start()
        values = []
        try:
            while len(values) < 300:
                batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
                for msgs in batch.values():
                    values.extend(m.value.decode() for m in msgs)
        finally:
            await consumer.stop()
        assert values == [f"m{i}" for i in range(300)]

    asyncio.run(main())
