#!/usr/bin/env python3
"""Regenerate the demo data for runbooks/demo-checkout-logs.yaml.

The story: at 14:05:09 UTC a config push (revision 4f2c9e1) set the checkout
service's payment_timeout_ms to 3000 instead of 30000. Payment calls start
timing out, the circuit breaker opens, ERROR lines pile up in
var/log/checkout/app.log, and the log volume fills up.

Deterministic (fixed seed, fixed clock): running it twice gives the same bytes.
Run from anywhere: `python3 demo/generate.py`. It also resets the demo after a
walk-through (removes app.log.1.gz and config.yaml.bak left by the actions).
"""

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOG_DIR = HERE / "var" / "log" / "checkout"
CONF_DIR = HERE / "etc" / "checkout"

rng = random.Random(20241118)

PUSH_AT = datetime(2024, 11, 18, 14, 5, 9, 412000, tzinfo=timezone.utc)
ROTATED_AT = datetime(2024, 11, 18, 14, 0, 0, tzinfo=timezone.utc)
END_AT = datetime(2024, 11, 18, 14, 21, 40, tzinfo=timezone.utc)

ENDPOINTS = [
    ("GET", "/api/v1/cart", 0.35, (8, 40)),
    ("POST", "/api/v1/cart/items", 0.2, (12, 60)),
    ("POST", "/api/v1/checkout", 0.25, (180, 900)),
    ("GET", "/api/v1/orders", 0.15, (10, 45)),
    ("GET", "/healthz", 0.05, (1, 3)),
]
CLIENTS = ["10.42.3.17", "10.42.3.18", "10.42.7.4", "10.42.7.9", "10.42.1.22"]
AGENTS = ["checkout-web/5.12.0", "checkout-ios/4.8.1", "checkout-android/4.8.0"]


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def clf(t):
    return t.strftime("%d/%b/%Y:%H:%M:%S +0000")


def req_id():
    return "%08x" % rng.getrandbits(32)


def order_id():
    return "ord_%05d" % rng.randrange(10000, 99999)


def pick_endpoint():
    r = rng.random()
    for method, path, weight, lat in ENDPOINTS:
        if r < weight:
            return method, path, lat
        r -= weight
    return ENDPOINTS[0][0], ENDPOINTS[0][1], ENDPOINTS[0][3]


def line(t, level, rid, msg):
    return f"{ts(t)} {level} [checkout] req={rid} {msg}"


def healthy_lines(t, access):
    """One request handled normally: an app line and an access line."""
    method, path, (lo, hi) = pick_endpoint()
    ms = rng.randint(lo, hi)
    rid = req_id()
    status = 201 if path == "/api/v1/checkout" else 200
    out = []
    if path == "/api/v1/checkout":
        oid = order_id()
        out.append(line(t, "INFO", rid, f"payment authorized order_id={oid} gateway_ms={ms - rng.randint(5, 60)}"))
    if rng.random() < 0.01:
        out.append(line(t, "WARN", rid, "inventory: stock reservation conflict, retrying"))
    out.append(line(t, "INFO", rid, f"{method} {path} {status} {ms}ms"))
    access.append(
        f'{rng.choice(CLIENTS)} - - [{clf(t)}] "{method} {path} HTTP/1.1" {status} '
        f'{rng.randint(120, 2400)} "-" "{rng.choice(AGENTS)}" rt={ms / 1000:.3f}'
    )
    return out


def rotated_log():
    """app.log.1: the previous 24 hours, healthy, rotated at 14:00."""
    lines = [line(ROTATED_AT - timedelta(days=1), "INFO", "-", "log reopened after rotation (logrotate, copytruncate=false)")]
    t = ROTATED_AT - timedelta(days=1)
    throwaway = []
    while True:
        t += timedelta(milliseconds=rng.randint(9000, 21000))
        if t >= ROTATED_AT:
            break
        lines.extend(healthy_lines(t, throwaway))
        if rng.random() < 0.004:
            lines.append(line(t, "INFO", "-", "config check: revision 9b1d07a unchanged (payment_timeout_ms=30000)"))
    return lines


def current_log(access):
    """app.log: healthy until the push, then the error burst."""
    lines = [line(ROTATED_AT, "INFO", "-", "log reopened after rotation (logrotate, copytruncate=false)")]
    t = ROTATED_AT
    pushed = False
    failures = 0
    breaker = "closed"
    breaker_until = None
    while True:
        t += timedelta(milliseconds=rng.randint(1500, 4200))
        if t >= END_AT:
            break
        if not pushed and t >= PUSH_AT:
            pushed = True
            lines.append(line(PUSH_AT, "INFO", "-", "config reloaded from /etc/checkout/config.yaml (revision 4f2c9e1, pushed by deploy-bot)"))
            lines.append(line(PUSH_AT, "INFO", "-", "payment-gateway: client settings url=https://payments.internal.example:8443 payment_timeout_ms=3000 retries=2"))
        if not pushed:
            lines.extend(healthy_lines(t, access))
            continue
        method, path, (lo, hi) = pick_endpoint()
        rid = req_id()
        if path != "/api/v1/checkout":
            ms = rng.randint(lo, hi)
            lines.append(line(t, "INFO", rid, f"{method} {path} 200 {ms}ms"))
            access.append(
                f'{rng.choice(CLIENTS)} - - [{clf(t)}] "{method} {path} HTTP/1.1" 200 '
                f'{rng.randint(120, 2400)} "-" "{rng.choice(AGENTS)}" rt={ms / 1000:.3f}'
            )
            continue
        # A checkout: the gateway needs ~3.2-9 s under this load, we give it 3 s.
        if breaker == "open" and t < breaker_until:
            oid = order_id()
            lines.append(line(t, "ERROR", rid, f"payment-gateway: rejected (circuit open) | order_id={oid}"))
            lines.append(line(t, "ERROR", rid, f"order finalize failed: payment not confirmed | order_id={oid}"))
            lines.append(line(t, "INFO", rid, f"POST /api/v1/checkout 502 {rng.randint(2, 9)}ms"))
            access.append(
                f'{rng.choice(CLIENTS)} - - [{clf(t)}] "POST /api/v1/checkout HTTP/1.1" 502 '
                f'187 "-" "{rng.choice(AGENTS)}" rt=0.00{rng.randint(2, 9)}'
            )
            continue
        if breaker == "open":
            breaker = "half-open"
            lines.append(line(t, "WARN", "-", "payment-gateway: circuit half-open, sending probe"))
        attempts = 3
        oid = order_id()
        for attempt in range(1, attempts + 1):
            lines.append(line(t, "ERROR", rid, f"payment-gateway: timeout after 3000ms | order_id={oid} attempt={attempt}"))
            failures += 1
        lines.append(line(t, "ERROR", rid, f"order finalize failed: payment not confirmed | order_id={oid}"))
        lines.append(line(t, "INFO", rid, f"POST /api/v1/checkout 504 {9000 + rng.randint(5, 90)}ms"))
        access.append(
            f'{rng.choice(CLIENTS)} - - [{clf(t)}] "POST /api/v1/checkout HTTP/1.1" 504 '
            f'203 "-" "{rng.choice(AGENTS)}" rt={9 + rng.randint(5, 90) / 1000:.3f}'
        )
        if breaker == "half-open":
            breaker = "open"
            breaker_until = t + timedelta(seconds=60)
            failures = 0
            lines.append(line(t, "ERROR", "-", "payment-gateway: circuit open (probe failed)"))
        elif failures >= 50:
            breaker = "open"
            breaker_until = t + timedelta(seconds=60)
            failures = 0
            lines.append(line(t, "ERROR", "-", "payment-gateway: circuit open (50 failures in 60s)"))
    return lines


def access_before_rotation(access):
    # A little history so access.log is not only the incident window.
    t = ROTATED_AT - timedelta(minutes=20)
    while t < ROTATED_AT:
        t += timedelta(milliseconds=rng.randint(3000, 9000))
        healthy_lines(t, access)


CONFIG = """\
# checkout service configuration
# managed by config-pusher: revision 4f2c9e1 pushed 2024-11-18T14:05:09Z by deploy-bot
# previous revision 9b1d07a (2024-11-02) had payment_timeout_ms: 30000
service: checkout
listen: 0.0.0.0:8080
log_dir: /var/log/checkout
log_level: info
payment_gateway:
  url: https://payments.internal.example:8443
  payment_timeout_ms: 3000
  retries: 2
  circuit_breaker:
    failure_threshold: 50
    window_s: 60
    half_open_after_s: 60
inventory:
  url: http://inventory.internal.example:8080
  timeout_ms: 800
"""

STATE = """\
Alertmanager (prod-eu-1): 2 alerts firing for service=checkout

[FIRING] CheckoutErrorRateHigh  severity=critical service=checkout env=prod
  summary: checkout 5xx ratio is 38% (threshold 2%) since 14:06 UTC
  description: POST /api/v1/checkout returns 502/504; app logs mention payment-gateway timeouts.
[FIRING] NodeFilesystemSpaceFillingUp  severity=warning instance=checkout-01:9100 mountpoint=/var/log
  summary: Filesystem on /var/log at checkout-01 is predicted to run out of space within the next 4 hours.

Context from on-call:
  service: checkout
  host: checkout-01
  log_dir: demo/var/log/checkout
  config: demo/etc/checkout/config.yaml
  last change: config push 4f2c9e1 at 14:05 UTC by deploy-bot

$ df -P /var/log
Filesystem     1024-blocks    Used Available Capacity Mounted on
/dev/nvme1n1       8191416 7536100    655316      92% /var/log
"""


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def main():
    # Leftovers of a previous walk through the demo (its actions' results).
    for stale in (LOG_DIR / "app.log.1.gz", CONF_DIR / "config.yaml.bak"):
        if stale.exists():
            stale.unlink()
    access = []
    access_before_rotation(access)
    write(LOG_DIR / "app.log.1", rotated_log())
    write(LOG_DIR / "app.log", current_log(access))
    write(LOG_DIR / "access.log", access)
    CONF_DIR.mkdir(parents=True, exist_ok=True)
    (CONF_DIR / "config.yaml").write_text(CONFIG)
    (HERE / "state.txt").write_text(STATE)


if __name__ == "__main__":
    main()
