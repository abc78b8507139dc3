"""Worker CPU per request of the study loop, beside the trivial endpoint (issue #15).

    DATABASE_URL=postgres://... REDIS_URL=redis://... python -m bench.study_cpu
    python -m bench.study_cpu --rounds 5 --pairs 40

In this process, through Django's test client with an API token (as an app
sends them): each round creates a student with a deck, starts a learn session
(cram once the day's new cards are used up) and alternates the trivial
endpoint (`GET /health/live/`) with the study loop (`next/` then `answer/`),
then with the loop an app runs (`answer/?next=1`, whose body carries the
next card: one request per card), timing each request with
`time.process_time()` — the worker's CPU, not the database's. Prints the
median over rounds of the CPU ms per request for trivial / next / answer /
answer+next, their ratios to the trivial one, and the statements
each study request runs. Rounds are alternated in one run so that a busy
machine slows every kind alike: compare the ratios, and note the load average
printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=40, help="next/ + answer/ pairs per round")
    parser.add_argument("--cards", type=int, default=200, help="cards in each round's deck")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")
    os.environ.setdefault("API_THROTTLE_USER", "1000000/minute")  # one student, as fast as it goes
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from learning import transfer
    from lms.models import User
    from lms.tokens import token_issue

    def new_student() -> tuple[Client, int]:
        name = f"cpu-bench-{uuid.uuid4().hex[:8]}"
        user = User.objects.create_user(name, password=uuid.uuid4().hex, role="student")
        rows = "front,back\n" + "".join(f"q{i},a{i}\n" for i in range(args.cards))
        deck, _ = transfer.deck_import_new(
            user=user, parsed=transfer.parse_csv(rows.encode()), title="CPU deck", lesson=None, skip_invalid=False
        )
        _, raw = token_issue(user=user)
        return Client(HTTP_AUTHORIZATION=f"Token {raw}"), deck.pk

    def start(client: Client, deck_id: int) -> str:
        for mode in ("learn", "cram"):
            response = client.post(
                "/api/v1/study-sessions/", {"scope_type": "deck", "scope_id": deck_id, "mode": mode}, "application/json"
            )
            if response.status_code == 201:
                return f"/api/v1/study-sessions/{response.json()['id']}/"
        raise SystemExit(f"could not start a session: {response.status_code} {response.content[:200]!r}")

    def timed(call, *args):
        started = time.process_time()
        response = call(*args)
        return response, (time.process_time() - started) * 1000

    def answer(client, path: str, body: dict) -> tuple[object, float]:
        """POST the answer to the card `body` shows (timed), which must be taken."""
        response, ms = timed(
            client.post,
            path,
            {"card": body["card"]["id"], "quality": 4, "idempotency_key": body["idempotency_key"]},
            "application/json",
        )
        assert response.status_code == 201, response.content
        return response, ms

    kinds = ("trivial", "next", "answer", "answer+next")
    samples: dict[str, list[float]] = {kind: [] for kind in kinds}
    client, deck_id = new_student()
    client.get("/health/live/")  # imports and URL resolvers warm
    url = start(client, deck_id)
    # Counted with an execute wrapper: the test client's request_started
    # signal empties connection.queries, so CaptureQueriesContext sees none.
    statements: dict[str, list[str]] = {"next": [], "answer": []}

    def counter(kind: str):
        def wrapper(execute, sql, params, many, context):
            statements[kind].append(sql)
            return execute(sql, params, many, context)

        return wrapper

    with connection.execute_wrapper(counter("next")):
        body = client.get(url + "next/").json()
    with connection.execute_wrapper(counter("answer")):
        response = client.post(
            url + "answer/",
            {"card": body["card"]["id"], "quality": 4, "idempotency_key": body["idempotency_key"]},
            "application/json",
        )
    assert response.status_code == 201, response.content

    for _ in range(args.rounds):
        client, deck_id = new_student()
        url = start(client, deck_id)
        per_round: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(args.pairs):
            _, ms = timed(client.get, "/health/live/")
            per_round["trivial"].append(ms)
            response, ms = timed(client.get, url + "next/")
            body = response.json()
            if body["done"]:
                url = start(client, deck_id)
                continue
            per_round["next"].append(ms)
            _, ms = timed(client.get, "/health/live/")
            per_round["trivial"].append(ms)
            response, ms = answer(client, url + "answer/", body)
            per_round["answer"].append(ms)
            if response.json()["session_done"]:
                url = start(client, deck_id)
        # The loop an app runs: each answer/?next=1 brings the card after it.
        url = start(client, deck_id)
        body = client.get(url + "next/").json()
        for _ in range(args.pairs):
            if body["done"]:
                url = start(client, deck_id)
                body = client.get(url + "next/").json()
            _, ms = timed(client.get, "/health/live/")
            per_round["trivial"].append(ms)
            response, ms = answer(client, url + "answer/?next=1", body)
            per_round["answer+next"].append(ms)
            body = response.json()["next"]
        for kind, values in per_round.items():
            samples[kind].append(statistics.mean(values))

    trivial = statistics.median(samples["trivial"])
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; database {connection.vendor}")
    print(f"CPU ms per request (median of {args.rounds} rounds' means, {args.pairs} pairs a round):")
    for kind in kinds:
        value = statistics.median(samples[kind])
        spread = ", ".join(f"{v:.2f}" for v in samples[kind])
        print(f"  {kind:11} {value:6.2f} ms  {value / trivial:5.1f}x trivial   rounds: {spread}")
    for kind, sqls in statements.items():
        print(f"statements in {kind}/ (BEGIN/COMMIT not counted): {len(sqls)}")
        for sql in sqls:
            print(f"    {' '.join(sql.split())[:140]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
