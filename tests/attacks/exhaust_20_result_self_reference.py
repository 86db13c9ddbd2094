# attack: a return value that contains itself (a dict in a list in the dict): infinite encoding
# category: exhaust
# expect: status=422 error_type=invalid_result


def main():
    d = {"items": []}
    d["items"].append(d)
    d["items"].append({"x": float("nan"), "again": d})
    return d
