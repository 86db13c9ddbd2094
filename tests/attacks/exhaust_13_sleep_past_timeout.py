# attack: sleep far past the wall-clock limit (costs no CPU, so only the wall clock can end it)
# category: exhaust
# request: {"timeout": 1}
# within: 6
# expect: status=422 error_type=timeout
import time


def main():
    time.sleep(60)
