"""The Python half of the bare ceiling (bench/bare-ceiling.ts): onnxruntime alone, one session per
thread (1 intra-op and 1 inter-op thread, ORT_ENABLE_ALL), the threads taking the next batch from a
shared counter, as the Node half's worker threads do. session.run releases the GIL.

argv: the batches file (JSON: the model path and the batches of token id rows). Then one command a
line on stdin: "run" answers a JSON line {"seconds", "cpu_s", "labels"}; "quit" ends.
"""

import json
import sys
import threading
import time

import numpy as np
import onnxruntime as ort

THREADS = 2


def feeds_of(rows, input_names):
    longest = max(len(r) for r in rows)
    ids = np.zeros((len(rows), longest), dtype=np.int64)
    mask = np.zeros((len(rows), longest), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return {name: feeds[name] for name in input_names}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    batches = spec["batches"]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sessions = [
        ort.InferenceSession(spec["modelPath"], options, providers=["CPUExecutionProvider"]) for _ in range(THREADS)
    ]
    input_names = [i.name for i in sessions[0].get_inputs()]
    for s in sessions:
        s.run(["logits"], feeds_of(batches[0], input_names))  # warm-up
    print("ready", flush=True)

    for command in sys.stdin:
        if command.strip() != "run":
            break
        lock = threading.Lock()
        cursor = [0]
        labels = [None] * len(batches)

        def lane(session):
            while True:
                with lock:
                    b = cursor[0]
                    cursor[0] += 1
                if b >= len(batches):
                    return
                logits = session.run(["logits"], feeds_of(batches[b], input_names))[0]
                labels[b] = logits.argmax(axis=1).tolist()

        threads = [threading.Thread(target=lane, args=(s,)) for s in sessions]
        cpu0, t0 = time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "labels": labels}), flush=True)


if __name__ == "__main__":
    main()
