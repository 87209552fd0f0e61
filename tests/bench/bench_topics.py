"""Benchmark of `tgparser topics`: quality against labelled stories, and speed.

    .venv/bin/python -m tests.bench.bench_topics quality [--file FILE] [--halves] [--link-min X]
        [--baseline single-pass|average] [--cut X]
    .venv/bin/python -m tests.bench.bench_topics speed [--docs 100000] [--new 1000]
        [--keep FILE] [--built FILE]
    .venv/bin/python -m tests.bench.bench_topics core [--docs 100000]

quality: clusters a plain list of (text, label) pairs with the builtin clustering core
(`tgparser.topics.cluster.cluster_texts`, default parameters, never told the number of
topics) and prints pairwise precision/recall/F1, NMI, the number of clusters and the share of
singletons. FILE is a TSV (`label<TAB>text` per line), JSON Lines (`{"text":…, "label":…}`)
or the fixture format (`label|lang|text`); default: tests/fixtures/topics_stories.txt, also
scored per language and per half (stories split alternately: the half the parameters were
tuned on, and the other). `--baseline` scores a quick lexical baseline instead of the core, on
plain TF-IDF (lower-cased words less stop words, raw tf, smoothed idf, rows L2-normalised):
`single-pass` (each text in turn joins the most similar cluster centroid when its cosine is ≥
`--cut`, default 0.2, else starts a cluster) or `average` (average linkage over all pairs,
cut at mean cosine ≥ `--cut`, default 0.1) — the kind of baselines issue 11 quotes.

speed: generates N synthetic posts with builtin documents (tests/bench/topics_corpus.py) in a
SQLite archive, times `tgparser topics build` from scratch in a child process (wall, CPU and
peak RSS), then adds `--new` posts and times the incremental run.
Targets: 100,000 documents from scratch ≤ 60 s and ≤ 500 MB; +1,000 documents ≤ 5 s.

core: the clustering core alone on N synthetic posts (tokens, vectors, clustering), CPU
seconds and peak RSS of this process (its share of a build: ≤ ~35 s and ≤ 400 MB at 100k).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.bench.measure import run_measured
from tests.bench.topics_corpus import synthetic_posts
from tests.topics_helpers import FIXTURE, add_posts
from tgparser.topics.cluster import Params, cluster_texts
from tgparser.topics.quality import score


def read_pairs(path: Path) -> list[tuple[str, str, str]]:
    """(text, label, language) triples from a TSV, JSONL or fixture file."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.lstrip().startswith("{"):
            item = json.loads(line)
            label = item["label"] if "label" in item else item["cluster"]  # GSDMM-style sets
            out.append((item["text"], str(label), item.get("lang", "")))
        elif "\t" in line:
            label, text = line.split("\t", 1)
            out.append((text, label, ""))
        else:
            label, lang, text = line.split("|", 2)
            out.append((text.strip(), label, lang))
    return out


def _plain_tfidf(texts: list[str]) -> Any:
    """Plain TF-IDF rows (the baselines' representation, not the core's)."""
    import numpy as np
    import scipy.sparse as sp

    from tgparser.topics.text import STOP_WORDS

    index: dict[str, int] = {}
    rows, cols = [], []
    for row, text in enumerate(texts):
        for word in re.findall(r"[^\W_]+", text.lower()):
            if word not in STOP_WORDS and len(word) > 1:
                rows.append(row)
                cols.append(index.setdefault(word, len(index)))
    counts = sp.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(texts), max(len(index), 1))
    )
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
    counts.data *= idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (sp.diags(1.0 / norms) @ counts).tocsr()


def single_pass(texts: list[str], cut: float) -> list[int]:
    """Each text in turn joins the cluster whose centroid is most similar (cosine ≥ cut).
    Centroid sums are kept per term (an inverted index), so a text costs its terms' postings,
    not a pass over every cluster."""
    matrix = _plain_tfidf(texts)
    postings: dict[int, dict[int, float]] = {}  # term -> {cluster: summed weight}
    norm2: list[float] = []  # squared norm of each cluster's summed vector
    labels = []
    for row in range(matrix.shape[0]):
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        terms, weights = matrix.indices[start:stop].tolist(), matrix.data[start:stop].tolist()
        vec = dict(zip(terms, weights, strict=True))
        dots: dict[int, float] = {}
        for term, weight in vec.items():
            for cluster, summed in postings.get(term, {}).items():
                dots[cluster] = dots.get(cluster, 0.0) + weight * summed
        best, best_sim = -1, cut
        for cluster, dot in dots.items():
            sim = dot / norm2[cluster] ** 0.5
            if sim > best_sim or (sim == best_sim and best < 0):
                best, best_sim = cluster, sim
        if best < 0:
            best = len(norm2)
            norm2.append(0.0)
        norm2[best] += 2 * dots.get(best, 0.0) + sum(w * w for w in vec.values())
        for term, weight in vec.items():
            cell = postings.setdefault(term, {})
            cell[best] = cell.get(best, 0.0) + weight
        labels.append(best)
    return labels


def average_all_pairs(texts: list[str], cut: float) -> list[int]:
    """Average linkage over every pair's cosine, cut where the mean cosine falls below cut."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    matrix = _plain_tfidf(texts)
    if matrix.shape[0] < 2:
        return list(range(matrix.shape[0]))
    dist = 1.0 - (matrix @ matrix.T).toarray()
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(np.clip(dist, 0.0, 2.0), checks=False), method="average")
    return fcluster(tree, t=1.0 - cut, criterion="distance").tolist()


def _line(
    name: str, texts: list[str], labels: list[str], params: Params, baseline: str = "", cut=None
) -> None:
    start = time.process_time()
    if baseline == "single-pass":
        found = single_pass(texts, 0.2 if cut is None else cut)
    elif baseline == "average":
        found = average_all_pairs(texts, 0.1 if cut is None else cut)
    else:
        found = cluster_texts(texts, params)
    s = score(found, labels)
    took = time.process_time() - start
    print(
        f"{name:<22} n={len(texts):>6}  stories={len(set(labels)):>5}  P={s['precision']:.3f} "
        f"R={s['recall']:.3f} F1={s['f1']:.3f} NMI={s['nmi']:.3f} clusters={s['clusters']:>5} "
        f"singletons={s['singleton_share']:.1%}  cpu={took:.2f}s"
    )


def quality(args: argparse.Namespace) -> None:
    params = Params(**({"link_min": args.link_min} if args.link_min else {}))
    pairs = read_pairs(Path(args.file))
    texts, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    extra = (args.baseline or "", args.cut)
    _line("all", texts, labels, params, *extra)
    if args.file != str(FIXTURE) and not args.halves:
        return
    stories = sorted(set(labels))
    half = {s: i % 2 for i, s in enumerate(stories)}
    for h, name in ((0, "half A (tuned on)"), (1, "half B (held out)")):
        chosen = [p for p in pairs if half[p[1]] == h]
        _line(name, [p[0] for p in chosen], [p[1] for p in chosen], params, *extra)
    by_lang: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for p in pairs:
        if p[2]:
            by_lang[p[2]].append(p)
    for lang, chosen in sorted(by_lang.items()):
        _line(f"only {lang}", [p[0] for p in chosen], [p[1] for p in chosen], params, *extra)


def core(args: argparse.Namespace) -> None:
    """The clustering core alone (`cluster_texts`'s stages), CPU seconds and peak RSS."""
    from tgparser.topics.cluster import cluster_matrix, texts_matrix
    from tgparser.topics.vectors import tokenise

    texts, labels = synthetic_posts(args.docs)
    params = Params()
    clock = time.process_time
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = clock()
    docs = tokenise(texts, params.stem)
    t1 = clock()
    matrix = texts_matrix(docs, params)
    del docs
    t2 = clock()
    found = cluster_matrix(matrix, params)
    t3 = clock()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = score(found, labels)
    print(
        f"cluster_texts on {args.docs:,} synthetic posts: cpu {t3 - t0:.1f} s (tokens "
        f"{t1 - t0:.1f}, vectors {t2 - t1:.1f}, clustering {t3 - t2:.1f}); peak RSS "
        f"{peak:.0f} MB ({base:.0f} MB before, the texts and imports); "
        f"F1 {s['f1']:.3f} NMI {s['nmi']:.3f}"
    )


def _fill(url: str, start: int, texts: list[str]) -> None:
    from tgparser.storage import open_storage

    with open_storage(url) as storage:
        storage.migrate()
        for offset in range(0, len(texts), 5000):
            chunk = texts[offset : offset + 5000]
            add_posts(storage, [(start + offset + i + 1, t) for i, t in enumerate(chunk)])


def _timed(url: str, label: str) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, rss = run_measured(
        [sys.executable, "-m", "tgparser", "--db", url, "-q", "topics", "build", "--json"]
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"{label}: wall {wall:.1f} s, cpu {cpu:.1f} s, peak RSS {rss:.0f} MB", flush=True)


def speed(args: argparse.Namespace) -> None:
    texts, _ = synthetic_posts(args.docs + args.new)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        kept = Path(args.keep) if args.keep else None
        built = Path(args.built) if args.built else None
        if built is not None and built.exists():
            # the archive as an earlier run left it after its first builds: the daily run only
            shutil.copyfile(built, path)
            _fill(url, args.docs, texts[args.docs :])
            _timed(url, f"topics build, +{args.new:,} new documents")
            return
        if kept is not None and kept.exists():
            shutil.copyfile(kept, path)  # the generated archive of an earlier run
            from tgparser.storage import open_storage

            with open_storage(url) as storage:
                storage.migrate()  # kept by an older version: its schema may be behind
        else:
            start = time.perf_counter()
            _fill(url, 0, texts[: args.docs])
            took = time.perf_counter() - start
            print(f"generated {args.docs:,} posts + documents in {took:.0f} s", flush=True)
            if kept is not None:
                shutil.copyfile(path, kept)
        _timed(url, f"topics build from scratch, {args.docs:,} documents")
        _timed(url, "topics build again, nothing new")
        if built is not None:
            shutil.copyfile(path, built)
        _fill(url, args.docs, texts[args.docs :])
        _timed(url, f"topics build, +{args.new:,} new documents")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--file", default=str(FIXTURE))
    q.add_argument("--halves", action="store_true")
    q.add_argument("--link-min", type=float)
    q.add_argument("--baseline", choices=["single-pass", "average"])
    q.add_argument("--cut", type=float, help="The baseline's cosine threshold.")
    s = sub.add_parser("speed")
    s.add_argument("--docs", type=int, default=100_000)
    s.add_argument("--new", type=int, default=1_000)
    s.add_argument("--keep", metavar="FILE", help="Keep the generated archive here; reuse it.")
    s.add_argument(
        "--built",
        metavar="FILE",
        help="Keep the archive as built from scratch here; when FILE exists, time only the "
        "daily run on a copy of it (the same state for every version compared).",
    )
    c = sub.add_parser("core")
    c.add_argument("--docs", type=int, default=100_000)
    args = parser.parse_args()
    {"quality": quality, "speed": speed, "core": core}[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
