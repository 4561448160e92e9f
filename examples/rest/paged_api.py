#!/usr/bin/env python3
"""A small paged JSON API for the APIRestOrigin example (standard library only).

    python3 examples/rest/paged_api.py --port 8765

serves 230 customers at http://127.0.0.1:8765/v1/customers, 25 per page by
default (?page=N&per_page=M), with the total in meta.total, behind a bearer
token (--token, default "demo-token"). Records have nested objects, an
array, fields that are absent in some records and a balance that is an
integer on the first page and a decimal later. `--dump` prints every
record as one JSON array instead of serving.
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

CITIES = [("Madrid", "ES"), ("Lyon", "FR"), ("Kyoto", "JP"), ("Sevilla", "ES"), ("Porto", "PT")]


def customer(i):
    city, country = CITIES[i % len(CITIES)]
    rec = {
        "id": i,
        "name": f"Customer {i:03d}",
        "email": f"customer{i}@example.com",
        "active": i % 3 != 0,
        "address": {"city": city, "country": country},
        "orders_count": (i * 7) % 11,
        # whole numbers on the first page, decimals afterwards: the column is float64
        "balance": i * 10 if i <= 25 else round(i * 10.25, 2),
        "tags": ["vip"] if i % 10 == 0 else [],
    }
    if i % 4 == 0:
        rec["phone"] = f"+34 600 {i:06d}"
    return rec


CUSTOMERS = [customer(i) for i in range(1, 231)]


class Handler(BaseHTTPRequestHandler):
    token = "demo-token"

    def do_GET(self):
        url = urlparse(self.path)
        if url.path != "/v1/customers":
            return self.reply(404, {"error": "not found; try /v1/customers"})
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self.reply(401, {"error": "missing or wrong bearer token"})
        q = parse_qs(url.query)
        try:
            page = int(q.get("page", ["1"])[0])
            per_page = min(int(q.get("per_page", ["25"])[0]), 100)
        except ValueError:
            return self.reply(400, {"error": "page and per_page must be integers"})
        start = (page - 1) * per_page
        items = CUSTOMERS[start:start + per_page] if page >= 1 else []
        self.reply(200, {"data": items, "meta": {"page": page, "per_page": per_page, "total": len(CUSTOMERS)}})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):  # keep the terminal quiet
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--token", default="demo-token", help="the bearer token clients must send")
    ap.add_argument("--dump", action="store_true", help="print every record as JSON and exit")
    args = ap.parse_args()
    if args.dump:
        json.dump(CUSTOMERS, sys.stdout)
        return
    Handler.token = args.token
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
