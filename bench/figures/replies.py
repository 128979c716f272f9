"""Figure 3: webhook → thread reply latency at `--answer-rate` webhooks/s per process, on every deployment
(a deployment of N processes gets N × `--answer-rate`: PostgreSQL with 2 replicas runs at 200/s by default).

Per run: N requests seeded through `/askcall` (no Pilot Status delay) until all are `waiting`; then
one signed answer per customer, open loop (a quarter without the 9th digit, `--duplicates` of them
delivered again 20 webhooks later, the way Pilot Status retries; with 2 replicas, answers go round
robin and each redelivery to another process than its original). Latency = the fake Slack's
`time.time()` at the thread reply's `chat.postMessage` − the load generator's `time.time()` before
sending. Floor: the relay server (verify, 200, one `chat.postMessage`, no store), one run per
repetition and rate, shared by the deployments at that rate. Also AskCall's CPU per seeded command and
per answer.

Targets (issue 19): one process, p50 ≤ 10 ms and p99 ≤ 50 ms; several processes (at N × the rate), p99 ≤ 50 ms;
CPU per answer ≤ 2 ms for one process (summed over the processes, with several: shown, no target).

Invariant (checked per run, exit 1 otherwise): exactly one `ok` thread reply per answered request
(0 lost, 0 doubled, 0 webhooks refused); of each answer and its redelivery one stored and the other
answered `duplicate`; every reply mentions the rep; every request `answered` in AskCall's database.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    AREA_ANSWERS,
    AREA_RELAY,
    STATUSES,
    customer_e164,
    median,
    percentile,
    say,
    webhook_body,
    without_ninth_digit,
)
from bench.context import Context
from bench.processes import BenchError, Deployment
from bench.report import Check, Row, cpu_row
from bot.fakes.pilot_status import iso_timestamp

CUSTOMERS_PER_REP = 100_000  # customer index stride between repetitions
REDELIVERY_LAG = 20  # a redelivery follows its original this many webhooks later
FLOOR_LABEL = "relay: verify+200+postMessage"
REPLY_P50_MS = 10.0  # issue 19, one process
REPLY_P99_MS = 50.0  # issue 19, one process at the base rate, and two at twice it
CPU_PER_ANSWER_MS = 2.0  # issue 19, both backends


def rate_of(dep: Deployment, base: float) -> float:
    """Figure 3's webhooks per second on `dep`: `base` per process (2 replicas: twice the load of one)."""
    return base * len(dep.replicas)


def reply_rows(
    rate: float, suffix: str, replicas: int, p50: float, p99: float, floor50: float, floor99: float, cpu: float
) -> list[Row]:
    """Figure 3's table rows for one deployment (`suffix` names a PostgreSQL one): p50 (target for one process
    only), p99 (target for any number, each at its own rate), CPU per answer (target for one process only)."""
    single = replicas == 1
    return [
        Row(
            "3",
            f"webhook → thread reply p50 @{rate:g}/s{suffix}",
            p50,
            floor50,
            "ms",
            f"≤ {REPLY_P50_MS:g} ms" if single else "—",
            p50 <= REPLY_P50_MS if single else None,
            FLOOR_LABEL,
        ),
        Row(
            "3",
            f"webhook → thread reply p99 @{rate:g}/s{suffix}",
            p99,
            floor99,
            "ms",
            f"≤ {REPLY_P99_MS:g} ms",
            p99 <= REPLY_P99_MS,
            FLOOR_LABEL,
        ),
        cpu_row(
            "3",
            f"CPU per answer (webhook, reply, parent update){suffix}"
            + ("" if single else f", summed over {replicas} processes"),
            cpu,
            CPU_PER_ANSWER_MS if single else None,
        ),
    ]


@dataclass(frozen=True)
class RunResult:
    """One repetition on one deployment."""

    latencies: list[float]  # ms, one per answered request
    floor: list[float]  # the relay floor's latencies of the same repetition, ms
    throughput: float  # replies/s
    offered: float  # distinct answers/s
    seed_cpu: float  # AskCall CPU ms per seeded command
    cpu: float  # AskCall CPU ms per answer


@dataclass(frozen=True)
class Batch:
    """One repetition's requests: their first customer index, channel and user prefixes."""

    rep: int
    first: int
    channel_prefix: str
    user_prefix: str

    def channel(self, i: int) -> str:
        return f"{self.channel_prefix}{self.first + i:08d}"

    def mention(self, i: int) -> str:
        return f"<@{self.user_prefix}{self.first + i:08d}>"


@dataclass
class Tally:
    """The thread replies of one batch of requests, counted against the answers sent for them."""

    lost: int = 0
    doubled: int = 0
    unmentioned: int = 0
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (wall time the answer left, ms)


def tally(
    batch: Batch,
    count: int,
    sent: dict[str, dict[str, Any]],
    replies: dict[str, list[dict[str, Any]]],
    into: Tally | None = None,
) -> Tally:
    """Request i of `batch` (of `count`) should have exactly one `ok` reply in its channel, mentioning its rep;
    its latency runs from when its answer (key `a<customer index>` in `sent`) left to the reply's arrival.
    Counted into `into` (several batches' total) when given, else into a new `Tally`."""
    counted = into if into is not None else Tally()
    for i in range(count):
        got = replies.get(batch.channel(i), [])
        if not got:
            counted.lost += 1
            continue
        counted.doubled += len(got) > 1
        counted.unmentioned += batch.mention(i) not in got[0]["text"]
        answer = sent.get(f"a{batch.first + i}")
        if answer is not None:
            counted.latencies.append((answer["wall"], (got[0]["wall"] - answer["wall"]) * 1000))
    return counted


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float, what: str) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    say(f"timed out after {within:.0f}s waiting for {what}")
    return False


class Replies:
    """Figure 3; `measure` runs once per deployment, the relay floor once per repetition."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.relay_runs: dict[tuple[int, float], list[float]] = {}  # floor latencies, by repetition and rate

    async def measure(self, dep: Deployment) -> None:
        o = self.ctx.opts
        rate = rate_of(dep, o.answer_rate)
        say(f"figure 3{dep.aside}: webhook → thread reply at {rate:g}/s, {o.answers} answers per run")
        runs: list[RunResult] = []
        for rep in range(o.reps):
            runs.append(await self.repetition(dep, rep))
            await self.ctx.settle(dep, f"figure 3 run {rep + 1}")
        cpu = self.ctx.report.cpu
        cpu[f"figure 3 seeding (per command: ack, parent message, Pilot Status request){dep.aside}"] = median(
            [r.seed_cpu for r in runs]
        )
        cpu[f"figure 3 (per answer: webhook, reply, parent update){dep.aside}"] = median([r.cpu for r in runs])
        self.report(dep, runs, rate)

    async def repetition(self, dep: Deployment, rep: int) -> RunResult:
        """Seeds the requests, answers them, checks the replies (the checks go to the report)."""
        ctx, o = self.ctx, self.ctx.opts
        rate = rate_of(dep, o.answer_rate)
        tag = f"P{len(dep.replicas)}" if dep.postgres else ""
        batch = Batch(rep, ctx.customers.take(AREA_ANSWERS, CUSTOMERS_PER_REP), f"C3{tag}R{rep}N", f"U3{tag}R{rep}N")
        cpu_before = dep.cpu_seconds()
        if not await self.seed(dep, batch):
            raise BenchError(f"figure 3{dep.aside}: the seeded requests never all reached 'waiting'")
        await ctx.settle(dep, f"figure 3 seeding {rep + 1}")
        seed_cpu = (dep.cpu_seconds() - cpu_before) / o.answers * 1000

        _, mark = await ctx.servers.slack_count(method="-")
        events = self.answer_events(batch.first, iso_timestamp(), len(dep.replicas))
        cpu_before = dep.cpu_seconds()
        result = await ctx.servers.paced(dep.webhook_urls(), events, rate)
        await self.replies_arrived(mark, batch.channel_prefix, 1, o.answers, within=30)
        await ctx.settle(dep, f"figure 3 run {rep + 1}")
        cpu = (dep.cpu_seconds() - cpu_before) / o.answers * 1000
        calls = await ctx.servers.slack_calls(
            since=mark, method="chat.postMessage", prefix=batch.channel_prefix, threaded=1
        )
        replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for call in calls:
            if call["outcome"] == "ok":
                replies[call["channel"]].append(call)
        timed, lost, doubled = await self.check(dep, batch, result["sent"], replies)
        latencies = [ms for _, ms in timed]
        self.keep_samples(dep, rep, timed, rate)
        arrivals = [c["wall"] for calls_in in replies.values() for c in calls_in]
        first_sent = min(s["wall"] for s in result["sent"])
        throughput = len(arrivals) / (max(arrivals) - first_sent) if arrivals else 0.0
        offered = o.answers / result["seconds"] if result["seconds"] else 0.0
        say(
            f"  rep {rep + 1} AskCall p50 {percentile(latencies, 50):.2f} ms p99 {percentile(latencies, 99):.2f} ms "
            f"({len(events)} webhooks at {result['achieved_rate']:.0f}/s; answers offered at {offered:.0f}/s, "
            f"replied at {throughput:.0f}/s; "
            f"{lost} lost, {doubled} doubled)"
        )
        if (rep, rate) not in self.relay_runs:  # one floor run per repetition and rate, shared by the deployments
            self.relay_runs[rep, rate] = await self.relay(rep, rate)
        floor = self.relay_runs[rep, rate]
        ctx.report.cdf(self.chart(dep), f"{rate:g} webhooks/s", f"floor: {FLOOR_LABEL}", floor)
        return RunResult(latencies, floor, throughput, offered, seed_cpu, cpu)

    def keep_samples(self, dep: Deployment, rep: int, timed: list[tuple[float, float]], rate: float) -> None:
        """The run's raw samples for the charts: every reply's latency, and when its answer left (seconds
        since the run's first answer)."""
        report = self.ctx.report
        start = min((wall for wall, _ in timed), default=0.0)
        report.cdf(self.chart(dep), f"{rate:g} webhooks/s", "AskCall", [ms for _, ms in timed])
        timeline = report.timelines.setdefault(f"Figure 3 — reply latency over time, {dep.label}", {})
        timeline[f"run {rep + 1}"] = [(wall - start, ms) for wall, ms in timed]

    def chart(self, dep: Deployment) -> str:
        return f"Figure 3 — webhook → thread reply latency, {dep.label}"

    async def seed(self, dep: Deployment, batch: Batch) -> bool:
        """The run's requests through `/askcall`, round robin over the deployment's processes; whether
        they all reached `waiting` in time."""
        o = self.ctx.opts
        result = await self.ctx.servers.slash(
            [url + "/slack/events" for url in dep.urls],
            8,
            o.answers,
            area=AREA_ANSWERS,
            offset=batch.first,
            channel_prefix=batch.channel_prefix,
            user_prefix=batch.user_prefix,
        )
        if result["failures"]:
            raise BenchError(f"figure 3: seeding failed: {result['failure_samples']}")

        async def all_waiting() -> bool:
            count = await dep.db.scalar(
                "SELECT COUNT(*) FROM requests WHERE channel_id LIKE ? AND state = 'waiting'",
                (batch.channel_prefix + "%",),
            )
            return bool(count == o.answers)

        return await wait_for(all_waiting, 60 + o.answers / 20, f"{o.answers} seeded requests to be waiting")

    def answer_events(self, first: int, timestamp: str, replicas: int) -> list[dict[str, Any]]:
        """One answer per seeded customer (a quarter without the 9th digit), and every k-th delivered
        again 20 webhooks later, the way Pilot Status retries. With several processes, answers go round
        robin and each redelivery to another process than its original."""
        o = self.ctx.opts
        originals: list[dict[str, Any]] = []
        for i in range(o.answers):
            e164 = customer_e164(AREA_ANSWERS, first + i)
            sender = without_ninth_digit(e164) if i % 4 == 3 else e164[1:]
            body = webhook_body(sender, STATUSES[i % 3], timestamp)
            originals.append({"key": f"a{first + i}", "body": body, "target": i % replicas})
        every = round(1 / o.duplicate_share) if o.duplicate_share > 0 else 0
        sequence = []
        for i, event in enumerate(originals):
            sequence.append(event)
            if every and i >= REDELIVERY_LAG and (i - REDELIVERY_LAG) % every == 0:
                original = originals[i - REDELIVERY_LAG]
                sequence.append(
                    {
                        "key": "d" + original["key"][1:],
                        "body": original["body"],
                        "target": (original["target"] + 1) % replicas,
                    }
                )
        return sequence

    async def replies_arrived(self, since: int, prefix: str, threaded: int, expected: int, within: float) -> None:
        async def arrived() -> bool:
            count, _ = await self.ctx.servers.slack_count(
                since=since, method="chat.postMessage", prefix=prefix, threaded=threaded, ok=1
            )
            return count >= expected

        await wait_for(arrived, within, f"{expected} Slack posts in {prefix}*")
        await asyncio.sleep(1.5)  # a doubled reply would show up now

    async def check(
        self, dep: Deployment, batch: Batch, sent_list: list[dict[str, Any]], replies: dict[str, list[dict[str, Any]]]
    ) -> tuple[list[float], int, int]:
        """The invariant for one run, as checks in the report; returns ((when each answer left, its reply's
        latency in ms), lost, doubled)."""
        o, on = self.ctx.opts, dep.aside
        sent = {s["key"]: s for s in sent_list}
        counted = tally(batch, o.answers, sent, replies)
        lost, doubled, unmentioned = counted.lost, counted.doubled, counted.unmentioned
        # An answer and its redelivery: exactly one is stored and the other answered `duplicate`. With
        # several processes the redelivery, sent to another one, may be stored first when AskCall lags.
        redelivered = {s["key"][1:]: s for s in sent_list if s["key"].startswith("d")}
        dup_ok = sum(
            {s["problem"], sent["a" + number]["problem"]} == {None, "duplicate"} for number, s in redelivered.items()
        )
        bad = [
            s["problem"]
            for s in sent_list
            if s["key"].startswith("a")
            and s["problem"]
            and not (s["problem"] == "duplicate" and s["key"][1:] in redelivered)
        ]
        answered = await dep.db.scalar(
            "SELECT COUNT(*) FROM requests WHERE channel_id LIKE ? AND state = 'answered'",
            (batch.channel_prefix + "%",),
        )
        name = f"figure 3{on} run {batch.rep + 1}"
        self.ctx.report.checks += [
            Check(
                f"{name}: one thread reply per answered request",
                lost == 0 and doubled == 0 and not bad,
                f"{o.answers} answers: {o.answers - lost} replied, {lost} lost, {doubled} doubled, "
                f"{len(bad)} webhooks refused {bad[:2] or ''}",
            ),
            Check(
                f"{name}: of each answer and its redelivery, one stored and one answered duplicate; no second reply",
                dup_ok == len(redelivered) and doubled == 0,
                f"{dup_ok}/{len(redelivered)} pairs",
            ),
            Check(
                f"{name}: replies mention the rep; requests marked answered",
                unmentioned == 0 and answered == o.answers,
                f"{unmentioned} without the mention; {answered}/{o.answers} answered in the DB",
            ),
        ]
        return counted.latencies, lost, doubled

    async def relay(self, rep: int, rate: float) -> list[float]:
        """The floor: the same pace against the relay server (verify, 200, one chat.postMessage)."""
        ctx, o = self.ctx, self.ctx.opts
        first = ctx.customers.take(AREA_RELAY, CUSTOMERS_PER_REP)
        timestamp = iso_timestamp()
        events: list[dict[str, Any]] = []
        for i in range(o.answers):
            sender = customer_e164(AREA_RELAY, first + i)[1:]
            events.append({"key": sender, "body": webhook_body(sender, STATUSES[i % 3], timestamp)})
        _, mark = await ctx.servers.slack_count(method="-")
        result = await ctx.servers.paced([ctx.servers.floor_urls["relay"] + "/webhooks/pilot-status"], events, rate)
        prefix = f"F55{AREA_RELAY}"
        await self.replies_arrived(mark, prefix, 0, o.answers, within=30)
        sent = {s["key"]: s["wall"] for s in result["sent"]}
        calls = await ctx.servers.slack_calls(since=mark, method="chat.postMessage", prefix=prefix)
        latencies = [(c["wall"] - sent[c["channel"][1:]]) * 1000 for c in calls if c["channel"][1:] in sent]
        say(
            f"  rep {rep + 1} relay floor at {rate:g}/s p50 {percentile(latencies, 50):.2f} ms "
            f"p99 {percentile(latencies, 99):.2f} ms"
        )
        return latencies

    def report(self, dep: Deployment, runs: list[RunResult], rate: float) -> None:
        """The figure's table rows and its details section."""
        o, report = self.ctx.opts, self.ctx.report
        per_run = [
            (
                percentile(r.latencies, 50),
                percentile(r.latencies, 99),
                percentile(r.floor, 50),
                percentile(r.floor, 99),
                r.throughput,
                r.offered,
            )
            for r in runs
        ]
        p50, p99 = median([r[0] for r in per_run]), median([r[1] for r in per_run])
        floor50, floor99 = median([r[2] for r in per_run]), median([r[3] for r in per_run])
        suffix = f" — {dep.label}" if dep.postgres else ""
        cpu = median([r.cpu for r in runs])
        report.rows += reply_rows(rate, suffix, len(dep.replicas), p50, p99, floor50, floor99, cpu)
        table = [
            "| run | AskCall p50 | AskCall p99 | answers offered/s | AskCall replies/s | floor p50 | floor p99 |",
            "|---|---|---|---|---|---|---|",
            *[
                f"| {i + 1} | {a:.2f} ms | {b:.2f} ms | {f:.0f} | {t:.0f} | {c:.2f} ms | {d:.2f} ms |"
                for i, (a, b, c, d, t, f) in enumerate(per_run)
            ],
            "",
        ]
        if dep.postgres:
            report.details += [
                f"## Figure 3 on {dep.label}",
                "",
                f"As on SQLite, with the requests seeded and the answers sent round robin over {len(dep.replicas)} "
                "`askcall serve` process(es) on one fresh PostgreSQL database, at "
                f"{rate:g} webhooks/s ({o.answer_rate:g}/s per process); each redelivery goes to another "
                "process than its original. The floor columns are the relay runs at the same rate (those of the "
                "SQLite table when the rate is the same).",
                "",
                *table,
            ]
            return
        report.details += [
            "## Figure 3 — webhook → thread reply latency",
            "",
            f"Per run: {o.answers} requests seeded through `/askcall` (no Pilot Status delay) and left waiting; then "
            f"one signed answer per customer sent open loop at {o.answer_rate:g} webhooks/s (statuses rotate "
            "TEMPORARY / PERMANENT / NO_PERMISSION, a quarter of the numbers without the 9th digit), plus "
            f"{o.duplicate_share:.0%} redeliveries of earlier answers. Latency = arrival of the thread reply's "
            "`chat.postMessage` at the fake Slack (its `time.time()`) − the load generator's `time.time()` just "
            "before sending the webhook. Answers offered/s = distinct answers ÷ sending time (redeliveries make "
            "up the rest of the webhooks); replies/s = replies ÷ (last reply − first webhook). Replies/s below "
            "answers offered/s means AskCall is saturated, and latency then grows with the length of the run. "
            "The floor relays each webhook straight to `chat.postMessage` (no store).",
            "",
            *table,
        ]
