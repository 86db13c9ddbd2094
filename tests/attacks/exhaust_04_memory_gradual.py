# attack: gradual memory growth, 1 MiB at a time up to 2 GiB, so no single request looks large
# category: exhaust
# request: {"memory": 96, "timeout": 10}
# expect: status=422 error_type=memory_limit


def main():
    chunks = []
    for i in range(2048):
        chunks.append(bytes([i % 256]) * (1 << 20))
    return "held %d MiB" % len(chunks)
