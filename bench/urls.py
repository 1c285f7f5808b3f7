"""URL list lookups on one core: canonicalize + expressions + SHA-256 + set lookup, against a Python library doing
the same job.

One process, the same corpus and the same list for every contender, the median of `--rounds` rounds each:
  corpus    `--urls` synthetic URLs (default 100,000), a fixed seed: about half already canonical, the rest in
            hostile forms (repeated and nested escapes, IPv4 in decimal/hex/octal/short forms, dot segments and
            `//`, IDN names, mixed case, ports, userinfo, fragments, queries, whitespace, TAB/LF inside, and a few
            that must be refused: `javascript:`, `data:`, no host)
  list      `--entries` SHA-256 digests (default 1,000,000): one expression of every other corpus URL (its host,
            a directory or the exact URL, as hashwarden canonicalizes it), the rest random digests
  job       per URL: canonical form, its expressions, their SHA-256, and whether any is in the list
  contenders
            hashwarden (`UrlChecker.check`, what `url check`, the service and the squid helper call: one compiled
            call canonicalizes, hashes every expression and looks each up in the list held as a `DigestTable`);
            then, for comparison, hashwarden's `url_hashes` with the list as a Python set, as the libraries have it
            (`set.isdisjoint`), on the whole corpus, its plain URLs only and its hostile URLs only;
            gglsbl (its `URL(url).hashes`: its own canonicalization and permutations, a Python set);
            urlcanon (`urlcanon.google.canonicalize`, then hashwarden's expressions and hashes, a Python set)
Each line gives the median rate of the rounds and the best round's (on a shared machine the best is the least
disturbed). The baseline named in the ratio is the faster of the libraries measured (medians). Each library's
answers are compared with hashwarden's (the share of URLs given the same verdict), and the 33 official Safe Browsing
canonicalization cases (../shared/conformance/urls/) are counted per canonicalizer. Printed last: `ratio hashwarden
/ <library>: R`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from hashlib import sha256
from importlib.metadata import version
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "src"))
sys.path.insert(0, str(PROJECT))
from hashwarden.errors import UrlError  # noqa: E402
from hashwarden.urllist.checker import UrlChecker  # noqa: E402
from hashwarden.urls import canonicalize, expression_hash, expressions, url_hashes  # noqa: E402
from tests.urls.vectors import canon_cases  # noqa: E402

CONFORMANCE = PROJECT.parent / "shared" / "conformance"
WORDS = ["news", "img", "cdn", "shop", "blog", "media", "files", "static", "upload", "gallery", "forum", "wiki",
         "user", "data", "archive", "view", "page", "photo", "video", "share"]
TLDS = ["com", "net", "org", "de", "co.uk", "ru", "info", "io", "jp", "com.br"]
IDN_WORDS = ["bücher", "straße", "müller", "日本語", "пример", "café", "ελλάδα", "mañana"]
Job = Callable[[list[str], set[bytes]], list[bool | None]]
TARGET = 200_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conformance", type=Path, default=CONFORMANCE)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}; "
          f"gglsbl {version('gglsbl')}, urlcanon {version('urlcanon')}, idna {version('idna')}")
    rng = random.Random(20_261_205)
    corpus, hostile = make_corpus(rng, args.urls)
    listed = make_list(rng, corpus, args.entries)
    print(f"corpus: {len(corpus):,} URLs ({sum(hostile):,} in hostile forms); list: {len(listed):,} SHA-256 "
          f"digests, one expression of every other URL among them")

    checker = UrlChecker({digest: f"u{index}" for index, digest in enumerate(listed)}, 1)
    job = checker_job(checker)
    truth = run("hashwarden", job, corpus, listed, args.rounds, None)
    for label, wanted in (("plain", False), ("hostile", True)):
        part = [url for url, flag in zip(corpus, hostile) if flag == wanted]
        run(f"hashwarden, the {label} URLs only", job, part, listed, args.rounds, None)
    run("hashwarden url_hashes + a Python set", set_job, corpus, listed, args.rounds, truth[1])
    rates = {}
    for name, job in (("gglsbl", gglsbl_job), ("urlcanon", urlcanon_job)):
        rates[name] = run(name, job, corpus, listed, args.rounds, truth[1])[0]
    ours = truth[0]
    cases = canon_cases(args.conformance)
    counts = {name: sum(passes(canon, case.input, case.expected) for case in cases)
              for name, canon in (("hashwarden", canonicalize), ("gglsbl", gglsbl_canonical),
                                  ("urlcanon", urlcanon_canonical))}
    print("official canonicalization cases passed: "
          + ", ".join(f"{name} {count}/{len(cases)}" for name, count in counts.items()))
    baseline = max(rates, key=rates.get)
    print(f"baseline: {baseline}, the faster library here")
    print(f"target {TARGET:,} URLs/s: {'reached' if ours >= TARGET else 'not reached'} (median)")
    print(f"ratio hashwarden / {baseline}: {ours / rates[baseline]:.2f}")


def run(name: str, job: Job, corpus: list[str], listed: set[bytes], rounds: int,
        truth: list[bool | None] | None) -> tuple[float, list[bool | None]]:
    """Median URLs/s of `job` over the corpus and its verdicts (None: refused); with `truth`, the agreement."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        verdicts = job(corpus, listed)
        times.append(time.perf_counter() - start)
    rate = len(corpus) / statistics.median(times)
    found = sum(1 for v in verdicts if v)
    refused = sum(1 for v in verdicts if v is None)
    line = (f"{name}: {rate:,.0f} URLs/s (median of {rounds}, best {len(corpus) / min(times):,.0f}); "
            f"listed {found:,}, refused {refused:,}")
    if truth is not None:
        same = sum(1 for a, b in zip(verdicts, truth) if bool(a) == bool(b))
        line += f"; same verdict as hashwarden for {same / len(corpus):.1%}"
    print(line)
    return rate, verdicts


def checker_job(checker: UrlChecker) -> Job:
    """The product's check; the list was given to `checker` (a DigestTable) once, as the libraries' set is built
    once."""
    def job(corpus: list[str], listed: set[bytes]) -> list[bool | None]:
        check = checker.check
        return [None if verdict.error is not None else verdict.listed for verdict in map(check, corpus)]

    return job


def set_job(corpus: list[str], listed: set[bytes]) -> list[bool | None]:
    verdicts: list[bool | None] = []
    append = verdicts.append
    for url in corpus:
        try:
            append(not listed.isdisjoint(url_hashes(url)))
        except UrlError:
            append(None)
    return verdicts


def gglsbl_job(corpus: list[str], listed: set[bytes]) -> list[bool | None]:
    from gglsbl.protocol import URL

    verdicts: list[bool | None] = []
    for url in corpus:
        try:
            verdicts.append(not listed.isdisjoint(URL(url).hashes))
        except Exception:  # noqa: BLE001 - what it raises on input it cannot parse varies (TypeError, ValueError...)
            verdicts.append(None)
    return verdicts


def urlcanon_job(corpus: list[str], listed: set[bytes]) -> list[bool | None]:
    verdicts: list[bool | None] = []
    for url in corpus:
        try:
            canonical = urlcanon_canonical(url.encode("utf-8", "surrogateescape"))
            verdicts.append(not listed.isdisjoint(map(expression_hash, expressions(canonical))))
        except Exception:  # noqa: BLE001
            verdicts.append(None)
    return verdicts


def gglsbl_canonical(url: bytes) -> str:
    from gglsbl.protocol import URL

    return URL(url).canonical


def urlcanon_canonical(url: bytes) -> str:
    import urlcanon

    return str(urlcanon.google.canonicalize(url))


def passes(canon: Callable[[bytes], str], given: bytes, expected: str) -> bool:
    try:
        return canon(given) == expected
    except Exception:  # noqa: BLE001 - a library raising on a valid case fails it
        return False


def make_corpus(rng: random.Random, count: int) -> tuple[list[str], list[bool]]:
    """`count` URLs, about half plain canonical ones, the rest each with one to three hostile forms (or one that
    must be refused, one in 50); with each, whether it is hostile."""
    corpus, hostile = [], []
    forms = [mixed_case, ip_host, idn_host, trailing_dots, port, userinfo, dot_segments, escaped, nested_escape,
             fragment, whitespace]  # applied in this order (whitespace last: the others parse the URL)
    for index in range(count):
        host, path, query = plain_parts(rng)
        if index % 50 == 49:
            corpus.append(rng.choice(["javascript:alert(1)", "data:text/html,x", "http:///nohost", "mailto:a@b.c"]))
            hostile.append(True)
            continue
        url = f"http://{host}{path}" + (f"?{query}" if query else "")
        hostile.append(rng.random() < 0.5)
        if hostile[-1]:
            for form in sorted(rng.sample(forms, rng.randint(1, 3)), key=forms.index):
                url = form(rng, url)
        corpus.append(url)
    return corpus, hostile


def plain_parts(rng: random.Random) -> tuple[str, str, str]:
    labels = [rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(rng.randint(1, 3))]
    host = ".".join(labels + [rng.choice(TLDS)])
    segments = [rng.choice(WORDS) + str(rng.randrange(100)) for _ in range(rng.randint(0, 5))]
    path = "/" + "/".join(segments)
    if segments and rng.random() < 0.5:
        path += "/"
    elif rng.random() < 0.5:
        path += ("/" if segments else "") + f"{rng.choice(WORDS)}{rng.randrange(10_000)}.jpg"
    query = f"id={rng.randrange(10**6)}&s={rng.choice(WORDS)}" if rng.random() < 0.3 else ""
    return host, path, query


def _split(url: str) -> tuple[str, str, str]:
    scheme, _, rest = url.partition("://")
    host, slash, tail = rest.partition("/")
    return scheme, host, slash + tail


def mixed_case(rng: random.Random, url: str) -> str:
    scheme, host, tail = _split(url)
    return f"{scheme.upper()}://{''.join(c.upper() if rng.random() < 0.5 else c for c in host)}{tail}"


def fragment(rng: random.Random, url: str) -> str:
    return url + f"#section{rng.randrange(100)}"


def port(rng: random.Random, url: str) -> str:
    scheme, host, tail = _split(url)
    return f"{scheme}://{host}:{rng.choice([80, 443, 8080])}{tail}"


def userinfo(rng: random.Random, url: str) -> str:
    scheme, host, tail = _split(url)
    return f"{scheme}://trusted.example.org:pw@{host}{tail}"


def dot_segments(rng: random.Random, url: str) -> str:
    scheme, host, tail = _split(url)
    extra = rng.choice(["/./", "/x/../", "//", "/a/b/../../"])
    return f"{scheme}://{host}{extra}{tail.lstrip('/')}"


def escaped(rng: random.Random, url: str) -> str:
    """Every path letter percent-escaped once or twice (`a` is `%61`, or `%2561`)."""
    scheme, host, tail = _split(url)
    twice = rng.random() < 0.5
    out = "".join((f"%25{ord(c):02X}" if twice else f"%{ord(c):02X}") if c.isalpha() and rng.random() < 0.4 else c
                  for c in tail)
    return f"{scheme}://{host}{out}"


def nested_escape(rng: random.Random, url: str) -> str:
    """One character escaped 5 to 50 times over: `%252525...41`."""
    return url + "%" + "25" * rng.randint(5, 50) + "41"


def ip_host(rng: random.Random, url: str) -> str:
    scheme, _, tail = _split(url)
    value = rng.randrange(1 << 24, 1 << 32)
    octets = value.to_bytes(4, "big")
    host = rng.choice([str(value), hex(value), ".".join(f"0{o:o}" for o in octets),
                       f"{octets[0]}.{int.from_bytes(octets[1:], 'big')}", ".".join(map(str, octets))])
    return f"{scheme}://{host}{tail}"


def idn_host(rng: random.Random, url: str) -> str:
    scheme, host, tail = _split(url)
    return f"{scheme}://{rng.choice(IDN_WORDS)}.{host}{tail}"


def whitespace(rng: random.Random, url: str) -> str:
    at = rng.randrange(len(url))
    return "  " + url[:at] + rng.choice(["\t", "\n", "\r\n"]) + url[at:] + " "


def trailing_dots(rng: random.Random, url: str) -> str:
    scheme, host, tail = _split(url)
    return f"{scheme}://{host}...{tail}"


def make_list(rng: random.Random, corpus: list[str], entries: int) -> set[bytes]:
    """One expression of every other corpus URL (as hashwarden reads it), then random digests up to `entries`."""
    listed = set()
    for url in corpus[::2]:
        try:
            found = expressions(canonicalize(url))
        except UrlError:
            continue
        listed.add(sha256(rng.choice(found).encode()).digest())
    while len(listed) < entries:
        listed.add(rng.randbytes(32))
    return listed


if __name__ == "__main__":
    main()
