"""What the Python clients of scripts/bench print: one JSON line, the same keys as the
Rust baselines (requests, elapsed_s, rps, p50_us, p99_us, p999_us)."""
import json


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def print_report(requests, elapsed, latencies):
    """`latencies` in seconds, one per answered request."""
    latencies = sorted(latencies)
    print(json.dumps({
        "requests": requests,
        "elapsed_s": elapsed,
        "rps": requests / elapsed,
        "p50_us": percentile(latencies, 0.5) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
        "p999_us": percentile(latencies, 0.999) * 1e6,
    }), flush=True)
