# attack: a forked child (which shares fd 3, unlike an exec'd one) writes garbage into the channel; the parent then returns normally
# category: channel
# expect: status=422 error_type=invalid_result
import os


def main():
    pid = os.fork()
    if pid == 0:
        os.write(3, b"child garbage \x00\xff")
        os._exit(0)
    os.waitpid(pid, 0)
    return "parent"
