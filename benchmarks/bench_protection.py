"""Protection cost per record, single-threaded (one core).

Record profile (the issue's): one party with name, ID number, date of birth and phone, plus an
event-level sensitive summary = 5 protected fields; blind indexes of ID number, phone and
name + date of birth (and, because the date of birth is present, dob_bi too); 2 linkage encodings
(name bigrams, name pinyin). Names are drawn from common surnames and given-name characters, so they
repeat as real names do.

Rows:
- primitives: one field token, one blind index, one CLK pair of an unseen name (pinyin included);
- protect (known people): steady state, every person seen before (DEKs and name CLKs cached);
- protect (new people): every record a new person, DEKs created in batches of 1000 (one keystore
  transaction each, fsync'd) and names mostly unseen;
- reveal (all classes): decrypt the 5 fields of a protected record.

    .venv/bin/python -m benchmarks.bench_protection            # 200k records
    .venv/bin/python -m benchmarks.bench_protection --quick    # 20k records
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consent.privacy.blind_index import BlindIndexer
from consent.privacy.fields import FieldKey
from consent.privacy.keys import LocalKeystore
from consent.privacy.linkage import LinkageEncoder
from consent.privacy.normalize import id_check_char
from consent.privacy.protect import Protector

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉斌宇浩凯健俊帆帅旭宁"
ALL_CLASSES = {"identifier", "contact", "sensitive", "basic"}
CHUNK = 200  # ops per timing window (the best window estimates the cost on an idle core)
BATCH = 1000  # records per protect_many call

SCHEMA: dict[str, Any] = {
    "type": "record", "name": "BenchEvent", "namespace": "bench", "fields": [
        {"name": "summary", "type": ["null", "string"], "pii": "sensitive", "default": None},
        {"name": "parties", "type": {"type": "array", "items": {
            "type": "record", "name": "PartyRef", "fields": [
                {"name": "role", "type": "string"},
                {"name": "name", "type": "string", "pii": "identifier"},
                {"name": "id_number", "type": ["null", "string"], "pii": "identifier", "default": None},
                {"name": "date_of_birth", "type": ["null", "string"], "pii": "identifier", "default": None},
                {"name": "gender", "type": ["null", "string"], "pii": "basic", "default": None},
                {"name": "phone", "type": ["null", "string"], "pii": "contact", "default": None},
                {"name": "protection", "type": ["null", "string"], "default": None},  # shape irrelevant here
            ]}}},
    ]}


def _person(rng: random.Random, serial: int) -> dict[str, Any]:
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    year, month, day = rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)
    first17 = f"{rng.randint(110000, 659000)}{year}{month:02d}{day:02d}{serial % 1000:03d}"
    return {
        "role": "plaintiff", "name": name, "id_number": first17 + id_check_char(first17),
        "date_of_birth": f"{year}-{month:02d}-{day:02d}", "gender": rng.choice(("male", "female")),
        "phone": f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}", "protection": None,
    }


def _record(person: dict[str, Any]) -> dict[str, Any]:
    return {"summary": "双方因宅基地界址发生争执，经村调委会调解未果", "parties": [dict(person)]}


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def _row(case: str, count: int, seconds: float, best_s: float, best_ops: int = CHUNK) -> dict[str, Any]:
    """Throughput over the whole run, and of the best window of best_ops ops: the machine is shared,
    and the best window is the closest to the cost on an idle core (as timeit's min)."""
    return {"case": case, "n": count, "us_per_op": round(seconds / count * 1e6, 2),
            "per_s": round(_rate(count, seconds)), "best_us_per_op": round(best_s / best_ops * 1e6, 2),
            "best_per_s": round(_rate(best_ops, best_s))}


def _timed_chunks(ops: list[Callable[[], Any]]) -> tuple[float, float]:
    """Run ops in chunks of CHUNK; (total seconds, best chunk seconds)."""
    total, best = 0.0, float("inf")
    for start in range(0, len(ops) - CHUNK + 1, CHUNK):
        began = time.perf_counter()
        for op in ops[start : start + CHUNK]:
            op()
        elapsed = time.perf_counter() - began
        total += elapsed
        best = min(best, elapsed)
    return total, best


def _references(n: int) -> list[dict[str, Any]]:
    """The raw primitives the issue quotes (AES-GCM of 32 bytes ~0.7 us, HMAC template copy ~0.5 us),
    to compare this machine's speed with theirs."""
    aead, nonce, data = AESGCM(os.urandom(32)), os.urandom(12), os.urandom(32)
    template = hmac.HMAC(os.urandom(32), hashes.SHA256())

    def mac() -> bytes:
        h = template.copy()
        h.update(data)
        return h.finalize()

    rows = [_row("reference: AESGCM.encrypt 32 B", n, *_timed_chunks([partial(aead.encrypt, nonce, data, None)] * n))]
    rows.append(_row("reference: HMAC-SHA256 template copy", n, *_timed_chunks([mac] * n)))
    return rows


def _primitives(matching_key: bytes, n: int) -> list[dict[str, Any]]:
    rows = _references(n)
    key = FieldKey("00" * 16, 1, os.urandom(32))
    ops = [partial(key.encrypt, "13812345678", f"evt-{i}", "parties[0].phone") for i in range(n)]
    rows.append(_row("field token (encrypt 11 chars)", len(ops), *_timed_chunks(ops)))
    blind = BlindIndexer(matching_key)
    ops = [partial(blind.phone, f"1{i:010d}") for i in range(n)]  # unseen values: no cache help
    rows.append(_row("blind index (phone, unseen)", len(ops), *_timed_chunks(ops)))
    linkage = LinkageEncoder(matching_key)
    rng = random.Random(7)
    names = list(dict.fromkeys(_person(rng, i)["name"] for i in range(n)))
    ops = [partial(lambda name: (linkage.name(name), linkage.name_pinyin(name)), name) for name in names]
    rows.append(_row("CLK name + pinyin (unseen name)", len(ops) // CHUNK * CHUNK, *_timed_chunks(ops)))
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    records = 20_000 if quick else 200_000
    people = 5_000 if quick else 50_000
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalKeystore.create(Path(tmp) / "keystore.db", os.urandom(32))
        rows = _primitives(store.matching_key(), 5_000 if quick else 50_000)

        protector = Protector(store)
        population = [_person(rng, i) for i in range(people)]
        ops = [
            partial(protector.protect_many,
                    [(_record(p), f"new-{start + i}") for i, p in enumerate(population[start : start + BATCH])],
                    SCHEMA, "court")
            for start in range(0, people, BATCH)
        ]
        total, best = 0.0, float("inf")
        for op in ops:  # one op = one batch of BATCH new people
            began = time.perf_counter()
            op()
            elapsed = time.perf_counter() - began
            total, best = total + elapsed, min(best, elapsed)
        rows.append(_row("protect (new people, batches of 1000)", people, total, best, BATCH))

        events = [(_record(rng.choice(population)), f"evt-{i}") for i in range(records)]
        protected: list[dict[str, Any]] = []
        ops = [partial(lambda r, e: protected.append(protector.protect(r, SCHEMA, e, "court")), record, event_id)
               for record, event_id in events]
        rows.append(_row("protect (known people)", records, *_timed_chunks(ops)))

        total, best = 0.0, float("inf")
        for start in range(0, records, BATCH):
            began = time.perf_counter()
            protector.protect_many(events[start : start + BATCH], SCHEMA, "court")
            elapsed = time.perf_counter() - began
            total, best = total + elapsed, min(best, elapsed)
        rows.append(_row("protect_many (known people, batches of 1000)", records, total, best, BATCH))

        sample = records // 4
        ops = [partial(protector.reveal, protected[i], SCHEMA, events[i][1], ALL_CLASSES) for i in range(sample)]
        rows.append(_row("reveal (all classes, 5 fields)", sample, *_timed_chunks(ops)))
        store.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k records instead of 200k")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    width = max(len(row["case"]) for row in rows)
    print(f"{'case':<{width}}  {'n':>7}  {'us/op':>7}  {'per second':>10}  {'best us/op':>10}  {'best per s':>10}")
    for row in rows:
        print(f"{row['case']:<{width}}  {row['n']:>7}  {row['us_per_op']:>7.2f}  {row['per_s']:>10,}  "
              f"{row['best_us_per_op']:>10.2f}  {row['best_per_s']:>10,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
