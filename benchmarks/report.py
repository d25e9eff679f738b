"""Turn benchmark results into docs/benchmarks.md (targets, tables), the README's figures
and a 2x2 plot. Every figure is a median over rounds with its min-max (`benchmarks.rounds`);
a target is met when its median meets it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.async_runs import NO_POOL, QUEUE_FLOOR, SHARED_AIOKAFKA
from benchmarks.micro import (
    ASYNC_FLOOR,
    ASYNC_OURS,
    ASYNC_PEER,
    ASYNC_TASKS,
    ASYNC_UNCONTENDED,
    CONFIGURED,
    FLOOR,
    HOLD_20US,
    OURS,
    PEERS,
    SHARES_BY_DESIGN,
    THREADS_8,
    THREADS_32,
    UNCONTENDED,
    name,
)
from benchmarks.rounds import Spread, ratio, spread

SHARED = "one shared producer"
SHARE_ONE = "async pool, share mode, max 1"


@dataclass(frozen=True)
class Target:
    what: str
    measured: Spread
    goal: str  # "<= 2.5" or ">= 0.95"

    @property
    def met(self) -> bool:
        operator, value = self.goal.split()
        median = self.measured.median
        return median <= float(value) if operator == "<=" else median >= float(value)


def _cost(results: dict[str, Any], measure: str, pool: str) -> list[float]:
    """Seconds per acquire + release of `pool` under `measure`, round by round."""
    return list(results["micro"]["rounds"][name(measure, pool)])


def _values(section: dict[str, Any], contender: str, key: str) -> list[float]:
    return list(section[contender][key]["values"])


def _best_of(section: dict[str, Any], prefixes: tuple[str, ...]) -> str | None:
    """The contender named with one of `prefixes` with the highest median msg/s."""
    names = [n for n in section if n.startswith(prefixes)]
    return max(names, key=lambda n: float(section[n]["msg_s"]["median"]), default=None)


def _best_peer(results: dict[str, Any], measure: str = THREADS_8) -> str | None:
    """The threaded peer with the lowest median cost under `measure` (never one that
    double-leased)."""
    micro = results["micro"]
    peers = [
        p
        for p in PEERS
        if name(measure, p) in micro["rounds"] and micro["double_leases"].get(p, 0) == 0
    ]
    if not peers:
        return None
    return min(peers, key=lambda p: Spread.of(_cost(results, measure, p)).median)


def targets(results: dict[str, Any]) -> list[Target]:
    """Every target the issues set, for the sections `results` has (`--quick` runs fewer)."""
    rows: list[Target] = []

    def add(what: str, measured: Spread, goal: str) -> None:
        rows.append(Target(what, measured, goal))

    if "micro" in results:
        peer, hold_peer = _best_peer(results), _best_peer(results, HOLD_20US)
        # (what, measure, ours, theirs, goal, compared): "cost" compares seconds per lease,
        # "rate" leases per second (the inverse)
        micro_targets = [
            ("uncontended: ours / floor (cost per acquire+release)",
             UNCONTENDED, OURS, FLOOR, "<= 2.5", "cost"),
            ("uncontended, configured like the YAML: ours / floor (cost)",
             UNCONTENDED, CONFIGURED, FLOOR, "<= 3", "cost"),
            ("8 threads, max_size 4: ours / floor (ops/s)",
             THREADS_8, OURS, FLOOR, ">= 0.8", "rate"),
            ("8 threads, 20 us hold: ours / floor (ops/s)",
             HOLD_20US, OURS, FLOOR, ">= 0.8", "rate"),
            (f"8 threads, max_size 4: ours / best peer ({peer}) (ops/s)",
             THREADS_8, OURS, peer, ">= 2", "rate"),
            (f"8 threads, 20 us hold: ours / best peer ({hold_peer}) (ops/s)",
             HOLD_20US, OURS, hold_peer, ">= 2", "rate"),
            (f"8 threads, configured like the YAML: ours / best peer ({peer}) (ops/s)",
             THREADS_8, CONFIGURED, peer, ">= 2", "rate"),
            ("asyncio, uncontended: ours / asyncio.Queue floor (cost)",
             ASYNC_UNCONTENDED, ASYNC_OURS, ASYNC_FLOOR, "<= 2", "cost"),
            ("asyncio, 64 tasks over 4 objects: ours / floor (cost per op)",
             ASYNC_TASKS, ASYNC_OURS, ASYNC_FLOOR, "<= 1.5", "cost"),
            (f"asyncio, 64 tasks over 4 objects: ours / {ASYNC_PEER} (ops/s)",
             ASYNC_TASKS, ASYNC_OURS, ASYNC_PEER, ">= 1.2", "rate"),
        ]  # fmt: skip
        measured = results["micro"]["rounds"]
        for what, measure, ours, theirs, goal, compared in micro_targets:
            if theirs is None or name(measure, ours) not in measured:
                continue  # no peer on this Python, or a selection without it
            mine, other = _cost(results, measure, ours), _cost(results, measure, theirs)
            add(what, ratio(mine, other) if compared == "cost" else ratio(other, mine), goal)
    if "overhead" in results:
        for benchmark, figure in results["overhead"]["ratios"].items():
            label = "configured" if CONFIGURED in benchmark else "bare"
            add(
                f"histograms' overhead, uncontended {label}: with / without (cost)",
                spread(figure),
                "<= 1.1",
            )

    best = _best_of(results.get("strategies", {}), ("pool of", "share mode"))
    best_async = _best_of(results.get("async_publishing", {}), ("async pool",))
    # (what, section, numerator, denominator, figure, goal): a ratio within each round
    kafka_targets = [
        (f"best pool ({best}) / one shared producer (msg/s)",
         "strategies", best, SHARED, "msg_s", ">= 0.95"),
        (f"best pool ({best}) / producer per message (msg/s)",
         "strategies", best, "producer per message", "msg_s", ">= 100"),
        ("pool of 4 (block) / one shared producer (msg/s)",
         "strategies", "pool of 4", SHARED, "msg_s", ">= 0.95"),
        ("transactions: pool of 4 / pool of 1 (tx/s)",
         "transactions", "pool of 4", "pool of 1", "tx_s", ">= 3"),
        (f"asyncio: best async pool ({best_async}) / one shared AIOKafkaProducer (msg/s)",
         "async_publishing", best_async, SHARED_AIOKAFKA, "msg_s", ">= 0.95"),
        ("asyncio: async pool of 4 (block) / one shared AIOKafkaProducer (msg/s)",
         "async_publishing", "async pool of 4", SHARED_AIOKAFKA, "msg_s", ">= 0.8"),
        ("asyncio transactions (AIOProducer): pool of 4 / pool of 1 (tx/s)",
         "async_transactions", "async pool of 4", "async pool of 1", "tx_s", ">= 3"),
    ] + [
        (f"confluent-kafka / kafka-python, {batch} (msg/s)",
         "clients", f"confluent-kafka, {batch}", f"kafka-python, {batch}", "msg_s", ">= 10")
        for batch in ("1 per lease", "100 per lease")
    ]  # fmt: skip
    for what, section, numerator, denominator, figure, goal in kafka_targets:
        part = results.get(section, {})
        if numerator in part and denominator in part:
            add(
                what,
                ratio(_values(part, numerator, figure), _values(part, denominator, figure)),
                goal,
            )
    return rows


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _fig(figure: dict[str, Any], spec: str = ",.0f") -> str:
    return spread(figure).format(spec)


def _ns(costs: list[float]) -> str:
    return Spread.of(costs).scaled(1e9).format()


def _ops(costs: list[float]) -> str:
    return Spread.of(costs).inverse().format()


def targets_table(results: dict[str, Any]) -> str:
    return _table(
        ["ratio", "median (min-max)", "rounds", "target", "met (median)"],
        [
            [
                t.what,
                t.measured.format(",.2f"),
                t.measured.rounds,
                t.goal,
                "yes" if t.met else "**no**",
            ]
            for t in targets(results)
        ],
    )


def _micro_section(results: dict[str, Any]) -> list[str]:
    micro = results["micro"]
    pools = dict.fromkeys(b.split(": ", 1)[1] for b in micro["rounds"] if b.startswith("8 "))
    sync_table = _table(
        [
            "pool",
            "uncontended ns/op",
            "8 threads ops/s",
            "32 threads ops/s",
            "8 threads, 20 us hold, ops/s",
            "double leases",
        ],
        [
            [pool]
            + [
                (_ns if measure == UNCONTENDED else _ops)(_cost(results, measure, pool))
                if name(measure, pool) in micro["rounds"]
                else ""
                for measure in (UNCONTENDED, THREADS_8, THREADS_32, HOLD_20US)
            ]
            + [
                "shares by design"
                if pool in SHARES_BY_DESIGN
                else micro["double_leases"].get(pool, "")
            ]
            for pool in pools
        ],
    )
    parts = [
        "## 1. Acquire + release (pyperf)\n",
        "Each pool leases a tiny object, max_size 4. Every benchmark runs in worker processes "
        "of its own under pyperf (loops calibrated in the first round and reused, a warm-up "
        f"value, then {micro['values']} values per round); the benchmarks take turns round "
        f"after round ({micro['rounds_run']} rounds), and each cell is the median of the "
        "rounds with their min-max. A ratio is taken within each round. The pyperf file is "
        "[benchmarks-micro.json](benchmarks-micro.json) (`python -m pyperf stats` or `hist` "
        "reads it). Exclusivity is verified first (8 threads yielding the GIL while holding); "
        "a pool that double-leased would be marked, not ranked. The 20 us hold is about the "
        "Python cost of one kafka-python `send`. connection-pool keeps its wrappers in a "
        "class-level dict keyed by `id(conn)` (the seed design's defect): once a pool's "
        "objects die, a recycled id routes releases to another pool and its waiters hang, "
        "so its objects are kept alive here.\n",
        sync_table,
    ]
    async_pools = dict.fromkeys(
        b.split(": ", 1)[1] for b in micro["rounds"] if b.startswith(ASYNC_UNCONTENDED)
    )
    if async_pools:
        parts += [
            "asyncio: `AsyncProducerPool` (by default, and in strict FIFO order) against an "
            "`asyncio.Queue` of prebuilt objects behind a class-based async context manager "
            f"(the floor) and {ASYNC_PEER}; 64 tasks over 4 objects each yield to the loop "
            "while holding one. Same pyperf rounds.\n",
            _table(
                ["pool", "uncontended ns/op", "64 tasks ops/s"],
                [
                    [
                        pool,
                        _ns(_cost(results, ASYNC_UNCONTENDED, pool)),
                        _ops(_cost(results, ASYNC_TASKS, pool)),
                    ]
                    for pool in async_pools
                ],
            ),
        ]
    if "waits" in results:
        parts += _waits_section(results["waits"])
    if "overhead" in results:
        overhead = results["overhead"]
        parts += [
            "### The duration histograms' cost\n",
            "Wait, hold and creation histograms are always on. The same uncontended "
            "acquire+release under pyperf, on this code and on commit "
            f"{overhead['baseline']} (the last without them; everything since is in the "
            "ratio too), the two taking turns round by round (`benchmarks.compare`, which "
            "also prints pyperf's `compare_to` table).\n",
            _table(
                [
                    "benchmark",
                    "with / without (cost), median (min-max)",
                    "with, ns/op",
                    "without, ns/op",
                ],
                [
                    [
                        benchmark,
                        _fig(figure, ".2f"),
                        _ns(overhead["rounds"]["after"][benchmark]),
                        _ns(overhead["rounds"]["before"][benchmark]),
                    ]
                    for benchmark, figure in overhead["ratios"].items()
                ],
            ),
        ]
    return parts


def _waits_section(waits: dict[str, Any]) -> list[str]:
    """Fairness: the wait of every lease of the contended runs, ours next to strict FIFO."""
    rows = []
    for measure, pools in waits.items():
        for pool, r in pools.items():
            rows.append(
                [
                    measure,
                    pool,
                    _fig(r["p50_us"], ",.1f"),
                    _fig(r["p99_us"], ",.0f"),
                    _fig(r["max_ms"], ",.1f"),
                    r.get("timeouts", ""),
                ]
            )
    return [
        "### Fairness: how long callers waited\n",
        "Every lease's wait, timed from outside (from `acquire()` to the body) in runs of "
        "their own: the contended measures above, a fresh pool per run, the contenders "
        "taking turns. Ours is shown with its default bounded barging and with strict "
        "first-come-first-served order (`fifo_after=0`); the floors and the peers let a "
        "releasing caller take its object straight back with no bound, so their longest "
        "waits show what an unbounded policy costs. Timeouts: our acquires had 10 s, "
        "summed over the rounds (0: no waiter ever reached its timeout).\n",
        _table(["run", "pool", "p50 wait, us", "p99 wait, us", "max wait, ms", "timeouts"], rows),
    ]


def _strategies_section(strategies: dict[str, Any]) -> list[str]:
    return [
        "## 2. Publishing strategies (kafka-python, embedded broker)\n",
        "8 threads, 200-byte values, `linger_ms=5`; latency is the publish call "
        "(acquire + `send`), not the delivery. Every message is read back after the writes "
        "and compared with what the delivery results acknowledged. The strategies take turns "
        "round after round; figures are medians of the rounds (min-max), while sent, "
        "acknowledged and read back add up every round.\n",
        _table(
            ["strategy", "msg/s", "p50 us", "p99 us", "sent", "acknowledged", "read back"],
            [
                [
                    name,
                    _fig(r["msg_s"]),
                    _fig(r["p50_us"]),
                    _fig(r["p99_us"]),
                    r["sent"],
                    r["acknowledged"],
                    r["read_back"],
                ]
                for name, r in strategies.items()
            ],
        ),
    ]


def _kafka_sections(results: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    if "strategies" in results:
        parts += _strategies_section(results["strategies"])
    if "transactions" in results:
        tx = results["transactions"]
        parts += [
            f"## 3. Transactions under {tx['rtt_ms']:g} ms RTT\n",
            "A user-space relay delays each direction by half the RTT (no netem here); the "
            "broker advertises the relay. 8 threads run transactions of 10 messages; the pool "
            "sizes take turns.\n",
            _table(
                ["transactional pool", "tx/s", "p50 ms per transaction", "messages read back"],
                [
                    [
                        name,
                        _fig(r["tx_s"], ",.1f"),
                        _fig(r["p50_ms"], ",.1f"),
                        f"{r['read_back']}/{r['sent']}",
                    ]
                    for name, r in tx.items()
                    if name != "rtt_ms"
                ],
            ),
        ]
    if "processes" in results:
        parts += [
            "## 4. Forked worker processes\n",
            "The pool is created (with a live producer) before forking, as gunicorn "
            "`--preload` or Celery prefork do; each child publishes from 4 threads with fresh "
            "producers.\n",
            _table(
                ["workers", "msg/s", "read back", "exit codes (every round)"],
                [
                    [
                        name,
                        _fig(r["msg_s"]),
                        f"{r['read_back']}/{r['sent']}",
                        sorted({code for codes in r["exit_codes"] for code in codes}),
                    ]
                    for name, r in results["processes"].items()
                ],
            ),
        ]
    if "clients" in results:
        parts += [
            "## 5. Client ceiling\n",
            "The same pool of 4 with a kafka-python and a confluent-kafka factory, 8 threads, "
            "flush included.\n",
            _table(
                ["client", "msg/s", "read back"],
                [
                    [name, _fig(r["msg_s"]), f"{r['read_back']}/{r['sent']}"]
                    for name, r in results["clients"].items()
                ],
            ),
        ]
    return parts


def _async_sections(results: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    if "async_publishing" in results:
        parts += [
            "## 6. asyncio publishing\n",
            "8 tasks, a lease per message, every acknowledgement awaited, against one shared "
            "`AIOKafkaProducer` sent to directly, the same behind an `async with` that does "
            "nothing (the protocol's own cost) and the floor holding that one producer; the "
            "contenders take turns, sent, acknowledged and read back add up every round. "
            "aiokafka producers are safe to share between tasks, and one event loop gains "
            "nothing from several: share mode with one producer is the configuration for "
            "plain publishing; block mode is for transactions.\n",
            _table(
                ["publishing", "msg/s", "sent", "acknowledged", "read back"],
                [
                    [name, _fig(r["msg_s"]), r["sent"], r["acknowledged"], r["read_back"]]
                    for name, r in results["async_publishing"].items()
                ],
            ),
            _lease_cost(results["async_publishing"]),
        ]
    if "async_transactions" in results:
        atx = results["async_transactions"]
        parts += [
            f"Transactions: confluent-kafka's AIOProducer, 8 tasks, 10 messages each, "
            f"{atx['rtt_ms']:g} ms RTT through the relay; the sizes take turns.\n",
            _table(
                ["transactional async pool", "tx/s", "committed messages read back"],
                [
                    [name, _fig(r["tx_s"], ",.1f"), f"{r['read_back']}/{r['sent']}"]
                    for name, r in atx.items()
                    if name != "rtt_ms"
                ],
            ),
        ]
    return parts


def _lease_cost(publishing: dict[str, Any]) -> str:
    """What a lease per message costs, in µs of the loop's time per message: within each
    round, against the shared producer's figure of that round; medians of the rounds."""

    def added(contender: str) -> Spread:
        mine, shared = (_values(publishing, c, "msg_s") for c in (contender, SHARED_AIOKAFKA))
        return Spread.of([1e6 / m - 1e6 / s for m, s in zip(mine, shared, strict=True)])

    shared_us = Spread.of(_values(publishing, SHARED_AIOKAFKA, "msg_s")).inverse(1e6)
    return (
        f"Per message, median of the rounds (min-max): the shared producer takes "
        f"{shared_us.format('.1f')} µs; a lease per message adds {added(NO_POOL).format('.2f')} "
        f"µs through an `async with` that does nothing, {added(QUEUE_FLOOR).format('.2f')} µs "
        f"through the floor and {added(SHARE_ONE).format('.2f')} µs through the share-mode "
        "pool. What a pool does per lease has to fit between the first figure and 5 % of the "
        "shared producer's; a lease for several messages (`publish_many`) divides its cost "
        "among them.\n"
    )


def _load(results: dict[str, Any]) -> str:
    """The machine's load around the run: beside other work, figures are noisier."""
    env = results["environment"]
    before, after = env["load_before"], results["load_after"]
    shared = max(before, after) >= 1.0
    return f"load average {before:.1f} before, {after:.1f} after" + (
        f", a machine shared with other work on {env['cpus']} CPUs" if shared else ""
    )


def _durations(results: dict[str, Any]) -> str:
    return ", ".join(
        f"{section} {seconds} s" for section, seconds in results["section_seconds"].items()
    )


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    parts = [
        "# Benchmarks\n",
        "Every figure is the median of several rounds with its min-max: the contenders take "
        "turns round after round, every ratio is taken within a round, and a target is met "
        "only when its median meets it. Micro benchmarks run under "
        "[pyperf](https://pyperf.readthedocs.io/); Kafka runs read every message back. "
        "Regenerate with `make bench` (this page, the README's figures, "
        "[benchmarks.json](benchmarks.json) and the plot); `make bench-quick` gives the core "
        "ratios in under 2 minutes, `make bench-compare REV=...` compares with a commit.\n",
        f"Run {env['date']} on {env['platform']}, {env['cpus']} CPUs, Python {env['python']}; "
        f"broker: {env['broker']}; scale: {results['scale']}, {results['seconds']} s in all"
        + (f" ({_durations(results)})" if "section_seconds" in results else "")
        + f"; {_load(results)}.\n",
        _table(["package", "version"], [[k, v] for k, v in env["packages"].items()]),
        "![benchmarks](benchmarks.png)\n",
        "## Targets\n",
        targets_table(results),
    ]
    if "micro" in results:
        parts += _micro_section(results)
    parts += _kafka_sections(results) + _async_sections(results)
    return "\n".join(parts)


README_START = "<!-- make bench: figures start -->"
README_END = "<!-- make bench: figures end -->"


def readme_block(results: dict[str, Any]) -> str:
    env = results["environment"]
    return (
        f"{README_START}\n"
        f"`make bench` of {env['date']} ({env['cpus']} CPUs, Python {env['python']}; "
        f"{_load(results)}): medians of the rounds with their min-max; a target is met when "
        "its median is.\n\n" + targets_table(results) + f"{README_END}"
    )


def update_readme(path: Path, results: dict[str, Any]) -> None:
    """Replace the README's figures (between the two markers) with this run's."""
    text = path.read_text()
    pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {README_START} ... {README_END} block")
    path.write_text(pattern.sub(lambda _: readme_block(results), text))


def summary(results: dict[str, Any]) -> str:
    return "\n".join(
        f"{t.what}: {t.measured.format(',.2f')} over {t.measured.rounds} rounds "
        f"(target {t.goal}) {'met' if t.met else 'MISSED'}"
        for t in targets(results)
    )


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def bars(ax: Any, labels: list[str], figures: list[Spread], color: str) -> None:
        medians = [f.median for f in figures]
        errors = [[f.median - f.low for f in figures], [f.high - f.median for f in figures]]
        ax.barh(labels, medians, xerr=errors, color=color, capsize=3)
        ax.invert_yaxis()

    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    micro = results["micro"]["rounds"]
    pools = [b.split(": ", 1)[1] for b in micro if b.startswith(f"{THREADS_8}: ")]
    bars(
        axes[0][0],
        pools,
        [Spread.of(micro[name(THREADS_8, p)]).inverse() for p in pools],
        "tab:blue",
    )
    axes[0][0].set_xscale("log")
    axes[0][0].set_title("acquire+release, 8 threads, max_size 4 (ops/s, log)")

    strategies = results["strategies"]
    bars(
        axes[0][1], list(strategies), [spread(r["msg_s"]) for r in strategies.values()], "tab:green"
    )
    axes[0][1].set_xscale("log")
    axes[0][1].set_title("publishing strategies, kafka-python (msg/s, log)")

    tx = {k: v for k, v in results["transactions"].items() if k != "rtt_ms"}
    sizes = [int(k.split()[-1]) for k in tx]
    figures = [spread(r["tx_s"]) for r in tx.values()]
    axes[1][0].errorbar(
        sizes,
        [f.median for f in figures],
        yerr=[[f.median - f.low for f in figures], [f.high - f.median for f in figures]],
        marker="o",
        color="tab:orange",
        capsize=3,
    )
    axes[1][0].set_xticks(sizes)
    axes[1][0].set_xlabel("transactional pool size")
    axes[1][0].set_title(
        f"transactions of 10 messages, {results['transactions']['rtt_ms']:g} ms RTT (tx/s)"
    )

    clients = results["clients"]
    bars(axes[1][1], list(clients), [spread(r["msg_s"]) for r in clients.values()], "tab:purple")
    axes[1][1].set_title("client ceiling through one pool of 4 (msg/s)")

    figure.suptitle(
        f"producer-pool benchmarks ({results['environment']['date']}): medians, min-max bars"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
