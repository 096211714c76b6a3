"""The detect benchmark (issue 15, item 6): several hundred Sigma rules against one scan.

The main noun is the *generated rule set*: for every (service, call) in the lake, a rule for
its successful calls (`errorCode: null`) and one for its attempts (`errorCode|exists: true`),
and variants of those by identity type and region, plus a few dozen of the other usual forms (`contains` on user agents and request
parameters, `re` on principals, `fieldref` between the principal and the request), about 750
in all; with SigmaHQ's 57 CloudTrail rules when ../shared/data has them. `trailsql detect`
over all of them is timed against one query that reads every column those rules read (the
scan the rules cannot avoid), both as whole processes, median of --runs.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path

# Columns the generated and SigmaHQ rules read, plus what a finding reports.
SCAN_SQL = """SELECT
  sum(length(eventsource)), sum(length(eventname)), sum(length(errorcode)),
  sum(length(errormessage)), sum(length(useragent)), sum(length(sourceipaddress)),
  sum(length(eventtype)), sum(length(useridentity.type)), sum(length(useridentity.arn)),
  sum(length(useridentity.username)),
  sum(length(useridentity.sessioncontext.sessionissuer.type)),
  sum(length(requestparameters)), sum(length(responseelements)),
  sum(length(additionaleventdata)), sum(length(eventid)), sum(length(recipientaccountid)),
  sum(length(awsregion)), sum(length(sourceobject)), count(eventtime)
FROM cloudtrail"""

RULE = """title: {title}
id: {id}
status: test
author: trailsql benchmark
logsource:
    product: aws
    service: cloudtrail
detection:
{detection}
level: {level}
tags:
    - attack.{tactic}
"""


def calls(trailsql: Path, lake: Path) -> list[tuple[str, str]]:
    out = subprocess.run(
        [str(trailsql), "--lake", str(lake), "sql", "--format", "csv", "-c",
         "SELECT DISTINCT eventsource, eventname FROM cloudtrail ORDER BY 1, 2"],
        check=True, capture_output=True, text=True).stdout
    return [tuple(line.split(",", 1)) for line in out.splitlines()[1:] if line]


def generate(trailsql: Path, lake: Path, out: Path, target: int = 750) -> int:
    """Write the rule set into `out`; the number of rules."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rules = []
    pairs = calls(trailsql, lake)
    tactics = ["persistence", "discovery", "defense-evasion", "collection", "impact"]
    # The usual forms beyond a call name, about 40 of them.
    extra = []
    for i, (src, name) in enumerate(pairs[:10]):
        extra.append(f"    selection:\n        eventSource: {src}\n        userAgent|contains: 'Boto3/{i}'\n    condition: selection")
        extra.append(f"    selection:\n        eventName: {name}\n        requestParameters|contains: 'bucket-{i}'\n    condition: selection")
        extra.append(f"    selection:\n        eventSource: {src}\n        userIdentity.arn|re: ':assumed-role/[a-z]+-{i}'\n    condition: selection")
        extra.append(f"    selection:\n        eventName: {name}\n    filter:\n        userIdentity.userName|fieldref: requestParameters.userName\n    condition: selection and not filter")
    budget = max(0, target - len(extra))
    # Per call: its successes and its attempts (failed calls), and the same narrowed the ways
    # rules usually narrow them (by identity type, by region), cycling until the budget.
    variants = [
        "errorCode: null",
        "errorCode|exists: true",
        "errorCode: null\n        userIdentity.type: AssumedRole",
        "errorCode|exists: true\n        userIdentity.type: IAMUser",
        "errorCode: null\n        awsRegion: us-west-2",
        "errorCode|exists: true\n        userIdentity.type: Root",
    ]
    for v in variants:
        for src, name in pairs:
            if len(rules) >= budget:
                break
            rules.append(f"    selection:\n        eventSource: {src}\n        eventName: {name}\n        {v}\n    condition: selection")
    rules.extend(extra)
    for i, det in enumerate(rules):
        text = RULE.format(title=f"generated {i}", id=f"00000000-0000-4000-8000-{i:012d}",
                           detection=det, level=["low", "medium", "high"][i % 3],
                           tactic=tactics[i % len(tactics)])
        (out / f"rule-{i:04d}.yml").write_text(text)
    return len(rules)


def timed(cmd: list[str], runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        walls.append(time.perf_counter() - t0)
    return walls


def measure(trailsql: Path, lake: Path, work: Path, runs: int, sigma: Path | None) -> dict:
    n = generate(trailsql, lake, work / "detect-rules")
    rule_args = ["--rules", str(work / "detect-rules")]
    if sigma is not None:
        rule_args += ["--rules", str(sigma)]
    detect = [str(trailsql), "--lake", str(lake), "detect", *rule_args, "--format", "csv"]
    scan = [str(trailsql), "--lake", str(lake), "sql", "--format", "csv", "-c", SCAN_SQL]
    # One untimed run of each warms the page cache and checks that they work.
    findings = subprocess.run(detect, check=True, capture_output=True, text=True)
    subprocess.run(scan, check=True, capture_output=True)
    d = timed(detect, runs)
    s = timed(scan, runs)
    return {
        "generated_rules": n,
        "sigmahq_rules": 57 if sigma is not None else 0,
        "findings": max(0, len(findings.stdout.splitlines()) - 1),
        "detect_wall_s": d, "scan_wall_s": s,
        "detect_wall_s_median": statistics.median(d),
        "scan_wall_s_median": statistics.median(s),
        "detect_vs_scan": statistics.median(d) / statistics.median(s),
        "stderr_tail": findings.stderr.strip().splitlines()[-1:],
    }
