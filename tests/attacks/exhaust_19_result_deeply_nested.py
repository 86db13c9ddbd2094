# attack: a return value nested 100000 levels deep (recursion in the encoder, and in the server's JSON parser)
# category: exhaust
# expect: status=422 error_type=invalid_result


def main():
    value = []
    for _ in range(100_000):
        value = [value]
    return value
