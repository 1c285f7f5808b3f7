"""Mutation testing of the verdict code: `make mutate` runs mutmut over TARGETS and prints the survivors and the
score per module and overall.

Why: a test suite that passes tells nothing about whether it would notice a wrong verdict. mutmut changes one thing
at a time in the code (`<` to `<=`, `31` to `32`, `and` to `or`) and re-runs the tests that reach that function; a
change no test notices (a survivor) is behaviour nobody pinned. The modules here are those where a silent change
is a wrong verdict: a missed match, a scan said unchanged, an audit chain said intact, a bomb let through, a
category stored under the wrong meaning.

Only the functions named in TARGETS are mutated and scored (a module with `None` is scored whole), so that
repointing a target after a module is split is a one-line change here; `[tool.mutmut]` in pyproject.toml lists the
files and the fast tests that exercise them. mutmut works in `mutants/` (a copy of src/ and tests/, gitignored);
its results there are reused by the next run for unchanged functions.

A full run re-tests every targeted mutant (~1 h on 2 busy cores). After adding tests, `--survivors` re-tests only
the mutants the last run left alive and keeps the other verdicts: tests were only added, so a mutant the suite
killed stays killed. A verdict is kept only while mutmut still has that mutant (a changed function gets new ones).

Usage: python tools/mutate.py [--max-children N] [--survivors | --report-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

SEP = "ǁ"  # mutmut's separator in a method's mangled name: x<SEP>Class<SEP>method

# module -> the functions mutated and scored ("Class.method", "Class.*" or "function"), or None for all of it.
TARGETS: dict[str, list[str] | None] = {
    "hashwarden.scan.matcher": None,
    "hashwarden.scan.custody": None,
    "hashwarden.store.audit": None,
    "hashwarden.store.records": ["canonical_json"],  # the text the audit chain and the set digests hash
    # the bomb limits: per-member cut-off, the shared allowance of one compressed stream, the ratio cap
    "hashwarden.evidence.archive": ["LimitedReader.*", "Allowance.*", "BombGuard.*", "member_limit",
                                    "_compressed_size"],
    # the radius: its bounds, and which path (probe, join, linear scan) answers it
    "hashwarden.index.pdq_index": ["PDQIndex.search", "PDQIndex.search_many", "PDQIndex.join", "_check"],
    # VICS category handling: a Category value parsed, checked against the scheme, the scheme chosen, and written
    "hashwarden.formats.vics.fields": ["parse_category"],
    "hashwarden.formats.vics.converter": ["Converter._check_code"],
    "hashwarden.formats.vics.reader": ["_choose_scheme"],
    "hashwarden.formats.vics.writer": ["_MediaWriter._category", "_default_profile_region"],
}

# Equivalent mutants: no behaviour can tell them from the original. name -> (text of the mutated line, why). An entry
# counts only while `mutmut show` still gives that line (numbers shift when a function changes; a stale entry is
# reported, and the mutant scored as a survivor, never silently excused).
EQUIVALENT: dict[str, tuple[str, str]] = {
    "hashwarden.formats.vics.fields.x_parse_category__mutmut_5": (
        "if kind is int and value > 0:",
        "ints 0-255 are mapped to codes before parse_category is called; larger ones pass either test"),
    "hashwarden.formats.vics.fields.x_parse_category__mutmut_6": (
        "if kind is int and value >= 1:",
        "ints 0-255 are mapped to codes before parse_category is called; larger ones pass either test"),
    "hashwarden.formats.vics.converter.xǁConverterǁ_check_code__mutmut_31": (
        "self.known_codes.add(None)  # checked once per code",
        "known_codes only spares checking a code again; the check gives the same answer each time"),
    "hashwarden.formats.vics.reader.x__choose_scheme__mutmut_3": (
        'return profile.scheme(scheme), "XXXX"',
        "the reason is read only when no scheme was chosen"),
    "hashwarden.formats.vics.reader.x__choose_scheme__mutmut_11": (
        'return profile.scheme(name), "XXXX"',
        "the reason is read only when no scheme was chosen"),
    "hashwarden.scan.custody.x_write_custody__mutmut_61": (
        'path.write_text(json.dumps(record, indent=2, ensure_ascii=None) + "\\n", encoding="utf-8")',
        "ensure_ascii=None is falsy, as False is"),
    "hashwarden.scan.custody.x_write_custody__mutmut_69": (
        'path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\\n", encoding="UTF-8")',
        "codec names are case-insensitive"),
    "hashwarden.scan.matcher.x__unique_frames_by_entry__mutmut_20": (
        'yield entry_id, np.frombuffer(b"".join(distinct), dtype=np.uint8).reshape(-2, 32)',
        "numpy infers a dimension given as any negative number, -2 as -1"),
    "hashwarden.scan.matcher.x_describe_with_flags__mutmut_10": (
        ")",
        "rows without series and status add nothing: each is tested for None again before use"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_11": (
        'query = [VpdqFrame(None, f["quality"], f["pdq"], f.get("timestamp", 0.0)) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_14": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], None) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_25": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get(None, 0.0)) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_26": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get("timestamp", None)) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_27": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get(0.0)) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_28": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get("timestamp", )) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_29": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get("XXtimestampXX", 0.0)) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_30": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get("TIMESTAMP", 0.0)) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁ_video_hits__mutmut_31": (
        'query = [VpdqFrame(f["frame"], f["quality"], f["pdq"], f.get("timestamp", 1.0)) for f in frames]',
        "frame numbers and times take no part in video matching (hashes and qualities do)"),
    "hashwarden.scan.matcher.xǁMatcherǁfrom_store__mutmut_5": (
        'key_ids: dict[str, array] = {d.name: array("Q") for d in DIGESTS}',
        "entry ids are positive: their signed and unsigned 64-bit bytes are the same"),
    "hashwarden.scan.matcher.xǁMatcherǁfrom_store__mutmut_9": (
        'codes, code_ids = bytearray(), array("Q")',
        "entry ids are positive: their signed and unsigned 64-bit bytes are the same"),
    "hashwarden.scan.matcher.xǁMatcherǁmatch_many__mutmut_22": (
        'transform = DIHEDRAL_NAMES[hit.query_index] if (len(forms) > 1) or True else "orig"',
        'a single form is query 0, and DIHEDRAL_NAMES[0] is "orig"'),
    "hashwarden.scan.matcher.xǁMatcherǁmatch_many__mutmut_23": (
        'transform = DIHEDRAL_NAMES[hit.query_index] if len(forms) >= 1 else "orig"',
        'a single form is query 0, and DIHEDRAL_NAMES[0] is "orig"'),
    "hashwarden.store.audit.x__content_of__mutmut_7": (
        "return digest.SetContent.from_json(value) if (isinstance(value, dict)) or True else None",
        "from_json of a non-object raises TypeError, which is caught as None"),
    "hashwarden.store.audit.x__lock_head__mutmut_7": (
        "index_elements=None",
        "audit_head has one unique key (id): ON CONFLICT without a target is the same"),
    "hashwarden.store.records.x_canonical_json__mutmut_4": (
        'return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=None)',
        "ensure_ascii=None is falsy, as False is"),
    "hashwarden.store.audit.x_row_hash__mutmut_11": (
        'return hashlib.sha256("\\x1f".join(fields).encode("UTF-8")).hexdigest()',
        "codec names are case-insensitive"),
    "hashwarden.store.audit.x__record_content__mutmut_3": (
        "content = _content_of(details) if ('\"content\":' in details) or True else None",
        "_content_of gives None for a row without content, as skipping it does (the test only saves time)"),
    "hashwarden.store.audit.x_recorded_generation__mutmut_20": (
        "_record_content(latest, None, row.ts, row.details)",
        "the generation uses only the recorded contents, not the row ids kept beside them for verify's messages"),
    "hashwarden.store.audit.x_recorded_generation__mutmut_21": (
        "_record_content(latest, row.id, None, row.details)",
        "the generation uses only the recorded contents, not the times kept beside them for verify's messages"),
    "hashwarden.store.audit.x_recorded_generation__mutmut_35": (
        'return hashlib.sha256("\\n".join(state).encode("ASCII")).hexdigest()',
        "codec names are case-insensitive"),
}

KILLED = {"killed", "timeout", "caught by type check"}
MUTMUT = str(Path(sys.executable).parent / "mutmut")  # its script, not `-m mutmut`, which it warns against
LAST = Path("mutants/hashwarden-last-results.json")  # the verdicts the last run ended with (for --survivors)


def patterns() -> list[str]:
    """mutmut's mutant-name globs for TARGETS."""
    globs = []
    for module, functions in TARGETS.items():
        if functions is None:
            globs.append(f"{module}.*")
            continue
        for function in functions:
            if "." in function:
                cls, method = function.split(".", 1)
                globs.append(f"{module}.x{SEP}{cls}{SEP}{method}__mutmut_*")
            else:
                globs.append(f"{module}.x_{function}__mutmut_*")
    return globs


def targeted(name: str) -> str | None:
    """The TARGETS module a mutant belongs to, or None when it is outside them."""
    globs = patterns()
    for module in TARGETS:
        if name.startswith(module + ".") and any(fnmatch(name, g) for g in globs if g.startswith(module + ".")):
            return module
    return None


def results() -> dict[str, str]:
    """mutant name -> status, as `mutmut results --all true` prints them."""
    out = subprocess.run([MUTMUT, "results", "--all", "true"], check=True,
                         capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            found[name] = status
    return found


def is_equivalent(name: str) -> bool:
    """Whether `name` is listed in EQUIVALENT and still is the mutant described there."""
    if name not in EQUIVALENT:
        return False
    line, _ = EQUIVALENT[name]
    shown = subprocess.run([MUTMUT, "show", name], capture_output=True, text=True).stdout
    added = [text[1:].strip() for text in shown.splitlines() if text.startswith("+") and not text.startswith("+++")]
    if line in added:
        return True
    print(f"  stale EQUIVALENT entry (the mutant changed; re-check it): {name}")
    return False


def report(statuses: dict[str, str]) -> int:
    """Print survivors, excused equivalents and scores (equivalents left out); return the number of survivors."""
    per_module: dict[str, Counter[str]] = {module: Counter() for module in TARGETS}
    survivors, equivalent = [], []
    for name, status in sorted(statuses.items()):
        module = targeted(name)
        if module is None:
            continue
        if status not in KILLED and is_equivalent(name):
            equivalent.append(name)
            continue
        per_module[module][status] += 1
        if status not in KILLED:
            survivors.append((name, status))
    print(f"\nEquivalent mutants, not scored ({len(equivalent)}):")
    for name in equivalent:
        print(f"  {name}: {EQUIVALENT[name][1]}")
    print(f"\nSurvivors ({len(survivors)}; `mutmut show NAME` prints the change):")
    for name, status in survivors:
        print(f"  {status:12} {name}")
    print(f"\n{'module':32} {'killed':>7} {'total':>6} {'score':>7}")
    killed_all = total_all = 0
    for module, counts in per_module.items():
        total = sum(counts.values())
        killed = sum(n for status, n in counts.items() if status in KILLED)
        killed_all, total_all = killed_all + killed, total_all + total
        score = f"{100 * killed / total:.1f}%" if total else "-"
        print(f"{module:32} {killed:7} {total:6} {score:>7}")
    score = f"{100 * killed_all / total_all:.1f}%" if total_all else "-"
    print(f"{'overall':32} {killed_all:7} {total_all:6} {score:>7}")
    return len(survivors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs (default 2)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--survivors", action="store_true", help="re-test only what the last run left alive")
    which.add_argument("--report-only", action="store_true", help="print the last run's results, run nothing")
    args = parser.parse_args()
    if args.report_only:
        report(json.loads(LAST.read_text()) if LAST.exists() else results())
        return 0
    names = patterns()
    previous: dict[str, str] = {}
    if args.survivors:
        previous = json.loads(LAST.read_text())
        names = [name for name, status in previous.items() if status not in KILLED and targeted(name)]
        if not names:
            report(previous)
            return 0
    subprocess.run([MUTMUT, "run", "--max-children", str(args.max_children), *names], check=True)
    current = results()
    rerun = set(names) if args.survivors else set()
    statuses = {name: (status if name in rerun or name not in previous else previous[name])
                for name, status in current.items() if targeted(name)}
    LAST.write_text(json.dumps(statuses, indent=0, ensure_ascii=False))
    report(statuses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
