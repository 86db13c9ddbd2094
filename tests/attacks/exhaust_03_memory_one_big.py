# attack: one big allocation far past the limit (1 GiB with a 64 MiB limit), touched so the pages are real
# category: exhaust
# request: {"memory": 64, "timeout": 10}
# expect: status=422 error_type=memory_limit


def main():
    block = bytearray(1 << 30)
    return len(block)
