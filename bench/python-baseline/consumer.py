"""The competitor of `npm run bench:python`: the single-process Python consumer a strong engineer
would write for this job, with the usual stack (confluent-kafka on librdkafka, Hugging Face
tokenizers, onnxruntime, fastavro). It reads raw, tokenizes, runs the model in micro-batches under
the same caps as the inference service, and writes predictions in the same Avro through the same
registry, at least once (offsets stored only after the predictions are acknowledged).

It is a benchmark baseline, not part of the project: no DLQ, no tracing, no health endpoint.
Settings come from the same environment variables as the services (see bench/README.md).
"""

import io
import json
import os
import signal
import struct
import sys
import time
import urllib.request

import numpy as np
import onnxruntime as ort
from confluent_kafka import Consumer, Producer, TopicPartition
from fastavro import parse_schema, schemaless_reader, schemaless_writer
from tokenizers import Tokenizer

env = os.environ.get
BROKERS = env("KAFKA_BROKERS", "localhost:9092")
REGISTRY = env("SCHEMA_REGISTRY_URL", "http://localhost:8081/apis/ccompat/v7").rstrip("/")
RAW = env("TOPIC_RAW", "raw")
PREDICTIONS = env("TOPIC_PREDICTIONS", "predictions")
GROUP = env("KAFKA_GROUP_ID_PREFIX", "") + "python-baseline"
MODEL_DIR = env("MODEL_DIR", "models/bge-small-zh-news")
MAX_SIZE = int(env("BATCH_MAX_SIZE", "32"))
MAX_TOKENS = int(env("BATCH_MAX_TOKENS", "1024"))
COMMIT_INTERVAL_MS = int(env("COMMIT_INTERVAL_MS", "100"))


def registry_get(path):
    with urllib.request.urlopen(REGISTRY + path, timeout=10) as response:
        return json.load(response)


def to_millis(value):
    # fastavro reads timestamp-millis as an aware datetime; the records carry epoch milliseconds.
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else value


class Avro:
    """Confluent wire format: magic byte 0, the schema id (big-endian int32), the Avro body."""

    def __init__(self):
        self.readers = {}
        latest = registry_get(f"/subjects/{PREDICTIONS}-value/versions/latest")
        self.prediction_id = latest["id"]
        self.prediction_schema = parse_schema(json.loads(latest["schema"]))

    def decode(self, value):
        if len(value) < 5 or value[0] != 0:
            raise ValueError("not Confluent wire format")
        (schema_id,) = struct.unpack(">I", value[1:5])
        schema = self.readers.get(schema_id)
        if schema is None:
            schema = parse_schema(json.loads(registry_get(f"/schemas/ids/{schema_id}")["schema"]))
            self.readers[schema_id] = schema
        return schemaless_reader(io.BytesIO(value[5:]), schema)

    def encode_prediction(self, record):
        out = io.BytesIO()
        out.write(struct.pack(">bI", 0, self.prediction_id))
        schemaless_writer(out, self.prediction_schema, record)
        return out.getvalue()


def batches(lengths):
    """Length-sorted micro-batches under the service's caps: size ≤ MAX_SIZE, size × longest ≤ MAX_TOKENS."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch = []
    for i in order:
        if batch and (len(batch) + 1 > MAX_SIZE or (len(batch) + 1) * lengths[i] > MAX_TOKENS):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def main():
    with open(os.path.join(MODEL_DIR, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    max_length = int(config.get("max_length", 512))
    tokenizer = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.no_padding()
    # onnxruntime's defaults: one session, one intra-op thread per physical core.
    session = ort.InferenceSession(os.path.join(MODEL_DIR, "model.onnx"), providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    avro = Avro()

    consumer = Consumer(
        {
            "bootstrap.servers": BROKERS,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": COMMIT_INTERVAL_MS,
        }
    )
    producer = Producer(
        {"bootstrap.servers": BROKERS, "acks": "all", "enable.idempotence": True, "linger.ms": 0}
    )
    consumer.subscribe([RAW])
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)

    while running:
        first = consumer.poll(0.5)
        if first is None:
            continue
        # What librdkafka has already fetched comes along; nothing waits for more.
        messages = [first] + consumer.consume(num_messages=8 * MAX_SIZE - 1, timeout=0)
        messages = [m for m in messages if m.error() is None]
        if not messages:
            continue
        records = [avro.decode(m.value()) for m in messages]
        encodings = tokenizer.encode_batch([r["text"] for r in records])
        tokenized_at = int(time.time() * 1000)
        lengths = [len(e.ids) for e in encodings]
        for batch in batches(lengths):
            longest = max(lengths[i] for i in batch)
            ids = np.zeros((len(batch), longest), dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : lengths[i]] = encodings[i].ids
                mask[row, : lengths[i]] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            logits = session.run(["logits"], {k: v for k, v in feeds.items() if k in inputs})[0]
            scores = np.exp(logits - logits.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
            predicted_at = int(time.time() * 1000)
            for row, i in enumerate(batch):
                r = records[i]
                best = int(scores[row].argmax())
                value = avro.encode_prediction(
                    {
                        "id": r["id"],
                        "label": labels[best],
                        "score": float(scores[row, best]),
                        "scores": {label: float(s) for label, s in zip(labels, scores[row])},
                        "model": config.get("model_name", "model"),
                        "modelVersion": config.get("model_version", "0"),
                        "createdAt": to_millis(r["createdAt"]),
                        "tokenizedAt": tokenized_at,
                        "predictedAt": predicted_at,
                        "batchSize": len(batch),
                        "truncated": len(encodings[i].overflowing) > 0,
                        "source": r.get("source"),
                        "metadata": r.get("metadata") or {},
                    }
                )
                producer.produce(PREDICTIONS, key=messages[i].key(), value=value)
            producer.poll(0)
        # At least once: offsets move only once every prediction of this fetch is acknowledged.
        if producer.flush(30) > 0:
            sys.exit("predictions not acknowledged within 30 s")
        last = {}
        for m in messages:
            last[(m.topic(), m.partition())] = max(last.get((m.topic(), m.partition()), -1), m.offset())
        consumer.store_offsets(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()])

    consumer.close()
    producer.flush(10)


if __name__ == "__main__":
    main()
