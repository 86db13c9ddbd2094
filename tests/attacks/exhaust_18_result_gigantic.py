# attack: a gigantic return value (24 MiB string, past MAX_RESULT_BYTES) to make the server buffer and re-encode it
# category: exhaust
# request: {"memory": 512, "timeout": 15}
# expect: status=422 error_type=output_limit


def main():
    return "z" * (24 << 20)
