# attack: numpy allocation of 800 MB (np.ones, so every page is written) with a 160 MiB limit
# category: exhaust
# request: {"memory": 160, "timeout": 15}
# expect: status=422 error_type=memory_limit
import numpy as np


def main():
    a = np.ones(100_000_000)
    return float(a.sum())
