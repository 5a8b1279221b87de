"""Sends records to a Fluent forward server with the Python `fluent-logger` client.

Usage: fluent_send.py PORT TAG LABEL COUNT PREFIX [nano]
Prints "SENT <count>" and exits 0 when every emit succeeded, or "ERROR ..." and exits 1.
"""
import sys

from fluent import sender


def main() -> int:
    port, tag, label, count, prefix = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    nano = len(sys.argv) > 6 and sys.argv[6] == "nano"
    s = sender.FluentSender(tag, host="127.0.0.1", port=int(port), nanosecond_precision=nano, timeout=5)
    for i in range(count):
        if not s.emit(label, {"log": f"{prefix} {i}", "stream": "stdout"}):
            print(f"ERROR {s.last_error}", flush=True)
            return 1
    s.close()
    print(f"SENT {count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
