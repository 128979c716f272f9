"""The soak's load (bench/soak.py): every customer answered once, redeliveries to the other replica and after
their original, calls' events for a share of the customers; the growth verdicts cover every replica's RSS."""

from __future__ import annotations

import json
from collections import Counter

from bench.soak import CALL_EVERY, REDELIVER_EVERY, Batch, Samples, growth_verdicts, soak_events


def test_each_customer_is_answered_once_and_every_tenth_redelivered_to_the_other_replica() -> None:
    batch = Batch(index=3, first=1000, count=40)
    events = soak_events(batch, "2026-12-07T08:00:00.000Z", replicas=2)
    keys = [e["key"] for e in events]
    assert len(keys) == len(set(keys))
    answers = [e for e in events if e["key"].startswith("a")]
    assert [e["key"] for e in answers] == [f"a{1000 + i}" for i in range(40)]
    redeliveries = [e for e in events if e["key"].startswith("d")]
    assert len(redeliveries) == 40 // REDELIVER_EVERY
    position = {key: i for i, key in enumerate(keys)}
    for again in redeliveries:
        original = next(e for e in answers if e["key"] == "a" + again["key"][1:])
        assert again["body"] == original["body"]  # the same bytes: Pilot Status retrying
        assert position[again["key"]] > position[original["key"]]
        assert again["target"] % 2 != original["target"] % 2  # the other replica
    calls = [json.loads(e["body"]) for e in events if e["key"].startswith("c")]
    assert Counter(c["event"] for c in calls) == {"call.ringing": 40 // CALL_EVERY, "call.ended": 40 // CALL_EVERY}
    assert all(c["direction"] == "OUTBOUND" and c["callId"].startswith("soak-") for c in calls)


def test_a_quarter_of_the_answers_come_without_the_ninth_digit() -> None:
    events = soak_events(Batch(index=0, first=0, count=8), "2026-12-07T08:00:00.000Z", replicas=2)
    senders = [json.loads(e["body"])["from"] for e in events if e["key"].startswith("a")]
    assert [len(s) for s in senders] == [13, 13, 13, 12, 13, 13, 13, 12]


def test_a_growing_replica_or_outbox_is_named_in_the_verdicts() -> None:
    samples = Samples()
    for i in range(20):
        samples.rss_mb["askcall-pg2-1"].append((i * 5.0, 80.0))
        samples.rss_mb["askcall-pg2-2"].append((i * 5.0, 80.0 + 2.0 * i))  # +20 MB over the second half
        samples.outbox.append((i * 5.0, 3.0))
    verdicts = {what: growth.growing for what, _, growth in growth_verdicts(samples)}
    assert verdicts == {"RSS of askcall-pg2-1": False, "RSS of askcall-pg2-2": True, "outbox depth": False}
