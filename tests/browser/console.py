#!/usr/bin/env python3
"""The console in a real browser: Debian's Chromium driven by Playwright for Python.

Run by the integration test `serve::serve_console_in_a_real_browser` (tests/run.sh installs
chromium and playwright). Against a lake of the repository's samples/, it starts
`trailsql serve`, then as a user would: applies Event history filters and checks the count
and the rows against `trailsql lookup`; opens an event and compares its JSON with the input
record in the source file; follows a pivot; opens the dashboard, clicks a panel row, drags a
time range over the histogram and checks the totals against `trailsql sql`; runs SQL (table
and chart), a shipped report, and a write statement (refused); loads the console with a
wrong token (refused) and the right one. Screenshots go to --shots.

Usage: console.py --trailsql BIN --lake LAKE --shots DIR
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# As root on these machines, without its background connections (the network is closed).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SINCE, UNTIL = "2024-03-01T00:00:00", "2024-03-04T00:00:00"

passed = 0


def check(cond: bool, what: str) -> None:
    global passed
    if not cond:
        raise AssertionError(what)
    passed += 1
    print(f"ok   {what}", flush=True)


class Server:
    def __init__(self, trailsql: str, lake: str, *extra: str):
        self.proc = subprocess.Popen(
            [trailsql, "--lake", lake, "serve", "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE, text=True)
        self.url = ""
        for line in self.proc.stdout:
            if line.strip().startswith("http://"):
                self.url = line.strip()
                break
        if not self.url:
            raise RuntimeError("trailsql serve printed no URL")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def cli(args, trailsql: str, lake: str, *rest: str) -> str:
    out = subprocess.run([trailsql, "--lake", lake, *rest], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"trailsql {' '.join(rest)}: {out.stderr}")
    return out.stdout


def sql_json(args, q: str) -> list[dict]:
    return json.loads(cli(args, args.trailsql, args.lake, "sql", "--format", "json", "-c", q))


def lookup_rows(args, since: str, until: str, **filters: str) -> list[dict]:
    rest = ["lookup", "--since", since, "--until", until, "--limit", "100000", "--format", "json"]
    for k, v in filters.items():
        rest += [f"--{k.replace('_', '-')}", v]
    return json.loads(cli(args, args.trailsql, args.lake, *rest))


def input_record(source: str, index: int) -> dict:
    path = source[len("file://"):] if source.startswith("file://") else source
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return json.loads(data)["Records"][index]


def shown_count(page) -> int:
    expect(page.locator("#event-count")).to_have_text(re.compile(r"events$"), timeout=60000)
    return int(page.locator("#event-count").get_attribute("data-count"))


def load_all_rows(page) -> int:
    while page.locator("#load-more").is_visible():
        before = page.locator("#events tbody tr").count()
        page.click("#load-more")
        expect(page.locator("#events tbody tr")).not_to_have_count(before, timeout=60000)
    return page.locator("#events tbody tr").count()


def set_window(page, since: str, until: str) -> None:
    page.fill("#since", since)
    page.fill("#until", until)
    page.click("#apply-window")


def history_checks(args, page, shots: Path) -> None:
    page.click("#tab-history")
    set_window(page, SINCE, UNTIL)
    # The most active user of the window, by the CLI's own answer.
    top = sql_json(args, "SELECT useridentity.username AS u, count(*) AS n FROM cloudtrail "
                   "WHERE useridentity.username IS NOT NULL GROUP BY 1 ORDER BY n DESC, u LIMIT 1")[0]["u"]
    for filters in [{"username": top}, {"event_source": "iam.amazonaws.com", "read_only": "false"},
                    {"region": "eu-west-1", "username": top}]:
        page.click("#clear-filters")
        for k, v in filters.items():
            field = page.locator(f"#filters [name={k}]")
            if k == "read_only":
                field.select_option(v)
            else:
                field.fill(v)
        page.click("#apply-filters")
        expected = lookup_rows(args, SINCE + "Z", UNTIL + "Z", **filters)
        n = shown_count(page)
        check(n == len(expected) and n > 0, f"history {filters}: {n} events, lookup says {len(expected)}")
        rows = load_all_rows(page)
        check(rows == len(expected), f"history {filters}: {rows} rows after paging, lookup has {len(expected)}")
        first = page.locator("#events tbody tr").first.locator("td").nth(2).inner_text()
        check(first == expected[0]["event_name"], f"newest event first: {first} = {expected[0]['event_name']}")
    page.screenshot(path=str(shots / "history.png"))

    # An event's detail: the JSON is the input record, key for key.
    page.locator("#events tbody tr").nth(1).click()
    expect(page.locator("#event-json")).not_to_be_empty(timeout=60000)
    shown = json.loads(page.locator("#event-json").inner_text())
    meta = page.locator("#detail-meta").inner_text()
    m = re.search(r"Source object: (\S+) \(record (\d+)\)", meta)
    check(m is not None, f"the detail names its source object: {meta!r}")
    record = input_record(m.group(1), int(m.group(2)))
    check(shown == record, f"event {shown.get('eventID')} is its input record exactly")
    page.screenshot(path=str(shots / "detail.png"))

    # One click to everything this principal did around that time.
    arn = shown["userIdentity"]["arn"]
    page.get_by_role("button", name=re.compile("Everything this principal")).click()
    t = datetime.fromisoformat(shown["eventTime"].replace("Z", "+00:00"))
    span = [(t + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ") for h in (-1, 1)]
    expected = lookup_rows(args, span[0], span[1], principal=arn)
    n = shown_count(page)
    check(n == len(expected) and n >= 1, f"pivot to principal {arn}: {n} events, lookup says {len(expected)}")
    check(page.locator("#filters [name=principal]").input_value() == arn, "the pivot set the principal filter")


def dashboard_checks(args, page, shots: Path) -> None:
    page.click("#clear-filters")
    page.click("#tab-dashboard")
    set_window(page, SINCE, UNTIL)
    expect(page.locator("#histogram rect.bar").first).to_be_visible(timeout=60000)
    expect(page.locator("#dash-totals")).to_have_text(re.compile("events"), timeout=60000)
    total = sql_json(args, f"SELECT count(*) AS n FROM cloudtrail WHERE eventtime >= '{SINCE}Z' AND eventtime < '{UNTIL}Z'")[0]["n"]
    text = page.locator("#dash-totals").inner_text()
    check(text.startswith(f"{total:,} events"), f"dashboard total {text!r} = SQL {total}")
    expect(page.locator("#findings .findings-cols")).to_be_visible(timeout=120000)
    page.screenshot(path=str(shots / "dashboard.png"))
    page.screenshot(path=str(shots / "dashboard-full.png"), full_page=True)

    # A panel row opens Event history filtered to what it counts.
    row = page.locator("#panel-services tr.link").first
    service = row.locator("td").first.inner_text()
    count = int(row.locator("td.num").inner_text().replace(",", ""))
    row.click()
    check(page.locator("#filters [name=event_source]").input_value() == service, f"panel link sets event_source={service}")
    n = shown_count(page)
    check(n == count, f"services panel {service}: {count}; Event history shows {n}")

    # Dragging over the histogram zooms into that time range.
    page.click("#tab-dashboard")
    expect(page.locator("#histogram rect.bar").first).to_be_visible(timeout=60000)
    box = page.locator("#histogram").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.35, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.65, y, steps=5)
    page.mouse.up()
    expect(page.locator("#since")).not_to_have_value(SINCE, timeout=10000)
    since, until = page.locator("#since").input_value(), page.locator("#until").input_value()
    check(SINCE < since < until < UNTIL, f"the drag set the window to {since} .. {until}")
    expected = sql_json(args, f"SELECT count(*) AS n FROM cloudtrail WHERE eventtime >= '{since}Z' AND eventtime < '{until}Z'")[0]["n"]
    expect(page.locator("#dash-totals")).to_have_text(re.compile(f"^{expected:,} events"), timeout=60000)
    check(True, f"after the drag the dashboard counts {expected} events, as SQL does")


def sql_checks(args, page, shots: Path) -> None:
    page.click("#tab-sql")
    q = "SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC, 1 LIMIT 8"
    page.fill("#sql-editor", q)
    page.click("#run-sql")
    expect(page.locator("#sql-status")).to_have_text(re.compile("rows"), timeout=60000)
    cells = page.locator("#sql-result tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))")
    expected = [[r["eventname"], str(r["n"])] for r in sql_json(args, q)]
    check(cells == expected, f"SQL result in the page = trailsql sql's ({len(cells)} rows)")
    page.check("input[name=sql-view][value=chart]")
    check(page.locator("#sql-chart rect").count() == len(expected), "the chart draws a bar per row")
    page.screenshot(path=str(shots / "sql.png"))
    page.check("input[name=sql-view][value=table]")

    page.fill("#sql-editor", "DROP TABLE cloudtrail")
    page.click("#run-sql")
    expect(page.locator("#sql-error")).to_be_visible(timeout=30000)
    err = page.locator("#sql-error").inner_text()
    check("read-only" in err and "DROP TABLE" in err, f"a write statement is refused: {err!r}")

    # A shipped report, one click away with its parameters.
    page.select_option("#report-select", "console-logins")
    page.fill("#report-params input[name=since]", SINCE + "Z")
    page.fill("#report-params input[name=until]", UNTIL + "Z")
    page.click("#run-sql")
    expect(page.locator("#sql-status")).to_have_text(re.compile("rows"), timeout=60000)
    rows = page.locator("#sql-result tbody tr").count()
    out = cli(args, args.trailsql, args.lake, "report", "console-logins", "--since", SINCE + "Z",
              "--until", UNTIL + "Z", "--format", "json")
    # The report's rows: the JSON array after its `== id: title` line.
    expected = next((json.loads(l) for l in out.splitlines() if l.startswith("[")), [])
    check(rows == len(expected) and rows > 0,
          f"report console-logins: {rows} rows, trailsql report {len(expected)}")
    history = page.locator("#sql-history li").count()
    check(history >= 2, f"the history lists the statements run ({history})")


def token_checks(args, browser_ctx) -> None:
    server = Server(args.trailsql, args.lake, "--token", "browser-test-token")
    try:
        base = server.url.split("?")[0]
        page = browser_ctx.new_page()
        resp = page.goto(base + "?token=wrong")
        check(resp.status == 403 and "wrong token" in page.content(), "a wrong token is refused")
        resp = page.goto(base)
        check(resp.status == 401, "no token is refused")
        resp = page.goto(server.url)
        check(resp.status == 200, "the printed URL opens the console")
        expect(page.locator("#lake-info")).to_have_text(re.compile("events"), timeout=30000)
        check(True, "the page's API calls carry the token (cookie)")
        page.close()
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trailsql", required=True)
    ap.add_argument("--lake", required=True)
    ap.add_argument("--shots", required=True)
    args = ap.parse_args()
    shots = Path(args.shots)
    shots.mkdir(parents=True, exist_ok=True)
    server = Server(args.trailsql, args.lake)
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
                viewport={"width": 1280, "height": 860}, accept_downloads=True)
            page = ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url)
            expect(page.locator("#lake-info")).to_have_text(re.compile("events"), timeout=60000)
            history_checks(args, page, shots)
            dashboard_checks(args, page, shots)
            sql_checks(args, page, shots)
            check(not errors, f"no script errors in the page: {errors}")
            token_checks(args, ctx)
            ctx.close()
    finally:
        server.stop()
    print(f"{passed} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
