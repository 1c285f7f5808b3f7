"""An RDSv3 SQLite file is untrusted input (issue 14, point 17): views that make huge values, never end or
multiply rows, over-long names, and blob literals in deltas each end in a FormatError that says what happened,
in bounded memory. Every database is built here from made-up hashes (`fake`) and SQL; none holds real data.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_nsrl import FILE_INSERT, MINIMAL_SCHEMA, delta_ops, fake, minimal_db

from hashwarden import config
from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport, nsrl
from hashwarden.formats.nsrl import rds3_rows, untrusted_sqlite
from hashwarden.formats.nsrl.rds3_schema import TABLE_COLUMNS

# FILE as a view over `body` (SQL yielding sha256, sha1, md5, file_name, file_size, package_id).
ENDLESS = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
VALID = "printf('%064x', n), printf('%040x', n), printf('%032x', n), 'a.dll', 1, 1"
HOSTILE = {
    # printf past SQLite's length limit gives NULL, so this row ends up with no hash at all
    "a 400 MB printf": ("SELECT printf('%.*c', 400000000, 'x'), '', '', 'a.dll', 1, 1", "row 1 of FILE: no sha256"),
    "a 400 MB value": (f"SELECT '{fake(1)[0]}', '{fake(1)[1]}', '{fake(1)[2]}', "
                       "replace(printf('%.*c', 1000, 'x'), 'x', printf('%.*c', 400000, 'y')), 1, 1",
                       "FILE holds a value over 32 MiB"),
    "a 400 MB zero blob": (f"SELECT '{fake(1)[0]}', '{fake(1)[1]}', '{fake(1)[2]}', zeroblob(400000000), 1, 1",
                           "value over 32 MiB"),
    "20 MB names": (f"{ENDLESS}SELECT '{fake(1)[0]}', '{fake(1)[1]}', '{fake(1)[2]}', printf('%.*c', 20000000, 'x'),"
                    " 1, 1 FROM r", "row 1 of FILE: file_name is longer than 4096 characters"),
    "a recursive query that never ends": (f"{ENDLESS}SELECT {VALID} FROM r WHERE n < 0",
                                          "did not finish within .* SQLite steps"),
    "a recursive query yielding rows": (f"{ENDLESS}SELECT {VALID} FROM r", "FILE produced more rows than a file of"),
    "a cross join": ("SELECT printf('%064x', a.n * 1000000 + b.n * 1000 + c.n), printf('%040x', a.n), "
                     "printf('%032x', b.n), 'a.dll', 1, 1 FROM T a, T b, T c",
                     "FILE produced more rows than a file of"),
}


def hostile_db(path: Path, body: str) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE T (n INTEGER)")
    con.executemany("INSERT INTO T VALUES (?)", [(i,) for i in range(1000)])
    con.execute(f"CREATE VIEW FILE (sha256, sha1, md5, file_name, file_size, package_id) AS {body}")
    con.commit()
    con.close()
    return path


# The reader in a fresh process: its error and peak memory (VmHWM: ru_maxrss would carry the pytest parent's). The
# address-space cap turns a regression into a MemoryError there instead of swapping the machine.
PROBE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from hashwarden.errors import FormatError
from hashwarden.formats import nsrl
from hashwarden.formats.nsrl import rds3_rows
reader = {"read_rows": rds3_rows.read_rows, "read": nsrl.read}[sys.argv[2]]
try:
    with open(sys.argv[1], "rb") as fp:
        for _ in reader(fp, sys.argv[1]):
            pass
    error = None
except FormatError as exc:
    error = str(exc)
except BaseException as exc:
    error = f"{type(exc).__name__}: {exc}"
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"error": error, "peak_kb": peak_kb}))
"""


@pytest.mark.heavy
@pytest.mark.parametrize("reader", ["read_rows", "read"])  # the import's column path, and the record path
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_view_is_a_clear_format_error_in_bounded_memory(tmp_path: Path, case: str, reader: str) -> None:
    body, message = HOSTILE[case]
    db = hostile_db(tmp_path / "hostile.db", body)
    # The timeout only stops a hang (a failure either way); how long a read takes is not what is tested.
    done = subprocess.run([sys.executable, "-c", PROBE, str(db), reader], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] is not None and str(db) in result["error"], result
    assert re.search(message, result["error"]), result["error"]
    assert result["peak_kb"] < 400_000, f"peak RSS {result['peak_kb']:,} KB"


def test_connection_refuses_attaching_and_keeps_the_schema_untrusted(tmp_path: Path) -> None:
    db = minimal_db(tmp_path / "RDS.db")
    with open(db, "rb") as fp:
        con = untrusted_sqlite.open_readonly(str(db), fp.read(100))
    try:
        assert con.execute("PRAGMA trusted_schema").fetchone() == (0,)
        assert con.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == config.MAX_SQLITE_VALUE_BYTES
        with pytest.raises(sqlite3.OperationalError, match="too many attached databases"):
            con.execute(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")
    finally:
        con.close()


@pytest.mark.parametrize("reader", ["read_rows", "read"])
@pytest.mark.parametrize(("column", "value", "message"), [
    ("file_name", "n" * 5000, "file_name is longer than 4096 characters"),
    ("file_name", b"\x00\xff", "file_name is bytes, not text"),
    ("sha256", fake(9)[0] + "00", "sha256 is longer than 64 characters"),
])
def test_overlong_or_blob_value_in_a_table_names_row_and_column(tmp_path: Path, reader: str, column: str,
                                                                 value, message: str) -> None:
    row = dict(zip(TABLE_COLUMNS["FILE"], (*fake(9), "x.dll", 1, 1)), **{column: value})
    db = minimal_db(tmp_path / "bad.db", rows=[(*fake(1), "a.dll", 1, 1), tuple(row.values())])
    with open(db, "rb") as fp, pytest.raises(FormatError, match=message) as info:
        list({"read_rows": rds3_rows.read_rows, "read": nsrl.read}[reader](fp, str(db)))
    assert info.value.field == column and info.value.line == 2


@pytest.mark.parametrize("statement", [
    f"{FILE_INSERT}('{fake(1)[0]}','{fake(1)[1]}','{fake(1)[2]}','{fake(1)[3]}',X'00FF',1,1);",
    f"UPDATE FILE SET file_name = x'41' WHERE sha1 = '{fake(1)[1]}';",
    f"DELETE FROM FILE WHERE sha1 = X'{fake(1)[1]}';",
    "INSERT INTO VERSION VALUES (X'00', 'b', 'c', 'd', 'e');",
])
def test_delta_blob_literal_is_a_format_error_naming_the_line(statement: str) -> None:
    with pytest.raises(FormatError, match=r"blob literal \(X'...'\)") as info:
        delta_ops("BEGIN TRANSACTION;\n" + statement + "\nCOMMIT;\n")
    assert info.value.line == 2 and info.value.field is not None


@pytest.mark.parametrize(("value", "message"), [
    ("1.5", "file_name must be a text value, not 1.5"),
    ("'" + "n" * 5000 + "'", "file_name is longer than 4096 characters"),
])
def test_delta_file_name_of_the_wrong_type_or_length_is_refused(value: str, message: str) -> None:
    statement = f"{FILE_INSERT}('{fake(1)[0]}','{fake(1)[1]}','{fake(1)[2]}','{fake(1)[3]}',{value},1,1);\n"
    with pytest.raises(FormatError, match=message) as info:
        delta_ops(statement)
    assert info.value.line == 1 and info.value.field == "file_name"


def test_version_row_with_a_huge_or_blob_value_is_refused(tmp_path: Path) -> None:
    db = minimal_db(tmp_path / "RDS.db")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO VERSION VALUES ('v2', 'b', 'c', 'd', ?)", ("d" * 100_000,))
    con.commit()
    con.close()
    with open(db, "rb") as fp, pytest.raises(FormatError, match="row 2 of VERSION: description is bytes or longer"):
        list(nsrl.read(fp, str(db), ReadReport()))
