"""Kafka clients for the cluster tests, with kafka-python (not our code).

  client.py produce BOOTSTRAP TOPIC COUNT ACKS RETRIES
      sends COUNT messages "m0".."m{COUNT-1}" one at a time, waiting for each
      answer; prints "acked N" after each success (so the test can act
      mid-stream) and finally one JSON line:
      {"acked": {"m0": offset, ...}, "failed": {"m7": "ErrorName", ...}}
  client.py consume BOOTSTRAP TOPIC MAX [GROUP]
      reads partition 0 from the beginning (or, with GROUP, as a member of
      that consumer group from its committed offset, committing what it
      read) up to the end offset it finds at the start, or MAX records, or
      20 s of nothing; prints one JSON line:
      {"records": [[offset, value], ...], "end": end_offset}
"""
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(bootstrap, topic, count, acks, retries):
    acks = "all" if acks == "all" else int(acks)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks=acks,
        retries=retries,
        retry_backoff_ms=200,
        request_timeout_ms=5000,
        max_in_flight_requests_per_connection=1,
        metadata_max_age_ms=1000,
    )
    acked, failed = {}, {}
    for i in range(count):
        value = "m%d" % i
        try:
            meta = producer.send(topic, value.encode()).get(timeout=60)
            acked[value] = meta.offset
            print("acked %d" % len(acked), flush=True)
        except Exception as e:  # the test judges every outcome
            failed[value] = type(e).__name__
            print("failed %s %s" % (value, type(e).__name__), flush=True)
    producer.close(timeout=10)
    print(json.dumps({"acked": acked, "failed": failed}), flush=True)


def consume(bootstrap, topic, most, group=None):
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=500,
    )
    tp = TopicPartition(topic, 0)
    end = consumer.end_offsets([tp])[tp]
    if group is None:
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
    else:
        consumer.subscribe([topic])
    records, quiet_since = [], time.time()
    done = lambda: len(records) >= most or (records and records[-1][0] + 1 >= end)
    while not done() and time.time() - quiet_since < 20:
        got = False
        for message in consumer:
            records.append([message.offset, message.value.decode()])
            got = True
            if done():
                break
        if got:
            quiet_since = time.time()
            if group is not None:
                consumer.commit()
    consumer.close(autocommit=False)
    print(json.dumps({"records": records, "end": end}), flush=True)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "produce":
        produce(args[0], args[1], int(args[2]), args[3], int(args[4]))
    elif command == "consume":
        consume(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else None)
    else:
        sys.exit("unknown command " + command)
