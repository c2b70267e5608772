"""Compile a mapping profile into one vectorised SQL query over the staged source rows.

Owns: the translation of a profile (field specs, value maps, formats, time zones, checks) into
DuckDB SQL that yields, per source row, the canonical typed columns plus three text columns:
``_codes`` (comma-separated rejection codes, empty when the row is good), ``_detail`` (what was
wrong, for a person) and ``_flags`` (checks that flag rather than reject). Validation runs as SQL
because a row-by-row Python loop is 50–100× slower on a million rows.

The query is a stack of projections, each computing a thing once for the next to reuse: the
trimmed source text, the field's raw text (null values applied), pre-parsed helpers (lowercase
text, the timestamp cast, whether an offset is written), the typed value, and one rejection code
per field. Good rows, the vast majority, then cost one null test per code: the text of ``_codes``
and ``_detail`` and the row's source as JSON (``_source``, for the quarantine) are only built for
rejected rows. Lists of values are tested with ``=`` comparisons, not ``IN`` (see ``_one_of``).
A field that is the same on every row (a constant, a column the file lacks) is not yielded at all
but returned as an expression (``CompiledQuery.constants``) for the caller to add back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from servq.ingest.profile import FieldSpec, Profile
from servq.warehouse.schema import CASE, TABLES, Column, Table
from servq.warehouse.sql import qi, ql

BOOL_TRUE = ("true", "t", "1", "yes", "y", "是", "真")
BOOL_FALSE = ("false", "f", "0", "no", "n", "否", "假")
# LIKE patterns for an ISO 8601 offset at the end of the text (cheaper than a regex per value)
_OFFSET_LIKE = ("%Z", "%z", "%+__:__", "%-__:__", "%+____", "%-____")
# the same six patterns as one regular expression, about half the cost of six LIKEs
_OFFSET_RE = "(?s)(?:[Zz]|[+-]..:..|[+-]....)$"
# what DuckDB's trim() strips: the Unicode space separators (category Zs), nothing else
_TRIMMED = (0x20, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)


def _one_of(expr: str, values: tuple[str, ...] | list[str]) -> str:
    """``expr IN (values)`` (NULL when ``expr`` is NULL), as comparisons: ``expr`` must be a
    column. DuckDB plans an ``IN`` list (or ``list_contains``) of constants inside a projection
    as a join, which is several times slower and keeps unused columns alive."""
    return "(" + " OR ".join(f"{expr} = {ql(v)}" for v in values) + ")"


def _trim(expr: str) -> str:
    """``trim(expr)``, skipped for ASCII text that neither starts nor ends with a space.

    trim() copies every value and reads it character by character; the test is a few times
    cheaper. Only ASCII text is let through untrimmed: trim() also strips the other Unicode space
    separators (``_TRIMMED``), and a non-ASCII text may start or end with one.
    """
    return (
        f"(CASE WHEN NOT prefix({expr}, ' ') AND NOT suffix({expr}, ' ') "
        f"AND strlen({expr}) = length({expr}) THEN {expr} ELSE trim({expr}) END)"
    )


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    fields: tuple[str, ...]  # canonical target columns the query yields (besides _row, etc.)
    case_fields: tuple[str, ...]  # case__<name> columns for profiles that build cases
    missing_columns: tuple[tuple[str, str], ...]  # (field, column) not in the source
    attribute_columns: tuple[str, ...]
    # fields (or case__<name>) the same for every row, e.g. from a column the file lacks: the
    # query does not yield them (no point storing a million copies); (name, SQL expression)
    constants: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=64)
def fixed_offset_since(zone: str) -> tuple[str, int] | None:
    """(first day, offset seconds) from which ``zone`` keeps one UTC offset up to 2100, or None.

    Converting with plain arithmetic is several times faster than a time-zone library call per
    value; older times, and zones with daylight saving, still take the exact conversion.
    """
    tz = ZoneInfo(zone)
    offsets = []
    for year in range(1970, 2101):
        for month in (1, 7):
            off = datetime(year, month, 1, tzinfo=tz).utcoffset()
            offsets.append((year, int(off.total_seconds()) if off is not None else 0))
    final = offsets[-1][1]
    last_other = max((y for y, off in offsets if off != final), default=None)
    if last_other is not None and last_other >= 2090:
        return None
    first = 1970 if last_other is None else last_other + 1
    return f"{first}-01-01", final


class _Builder:
    def __init__(self, profile: Profile, source_columns: list[str]) -> None:
        self.p = profile
        self.source = set(source_columns)
        self.source_order = [c for c in source_columns if c != "_row"]
        self.missing: list[tuple[str, str]] = []
        self.used: set[str] = set()
        self.trimmed: dict[str, str] = {}  # source column -> alias of its trimmed text
        self.pre: dict[str, str] = {}  # expression over raw field texts -> its alias
        self.reads_row = False  # whether the last raw() expression reads the source row
        self.inline = False  # helpers are written out in place (for constant expressions)

    def helper(self, expr: str) -> str:
        """A value computed once per row from the raw field texts, for the typed values to use."""
        if self.inline:
            return f"({expr})"
        alias = self.pre.setdefault(expr, f"p__{len(self.pre)}")
        return qi(alias)

    def raw(self, name: str, spec: FieldSpec) -> str:
        nulls = spec.null_values if spec.null_values is not None else self.p.null_values

        self.reads_row = spec.sql is not None

        def col(c: str) -> str:
            self.used.add(c)
            if c not in self.source:
                self.missing.append((name, c))
                return "CAST(NULL AS VARCHAR)"
            self.reads_row = True
            alias = self.trimmed.setdefault(c, f"s__{len(self.trimmed)}")
            x = qi(alias)
            if not nulls:
                return x
            if nulls == ("",):
                return f"NULLIF({x}, '')"
            return f"(CASE WHEN {_one_of(x, nulls)} THEN NULL ELSE {x} END)"

        if spec.column is not None:
            expr = col(spec.column)
        elif spec.columns is not None:
            expr = f" || {ql(spec.join)} || ".join(col(c) for c in spec.columns)
            expr = f"({expr})"
        elif spec.sql is not None:  # sees the source columns as they are
            expr = f"CAST(({spec.sql}) AS VARCHAR)"
        else:
            expr = ql(spec.constant or "")
        if spec.default is not None:
            expr = f"COALESCE({expr}, {ql(spec.default)})"
        return expr

    def typed(
        self, table: Table, column: Column, spec: FieldSpec, r: str
    ) -> tuple[str, str | None, str]:
        """(typed expression, failure condition or None, failure code).

        The failure condition refers to the typed value as ``{v}`` (its column alias), so the
        typed expression is computed once per row.
        """
        kind = column.type
        name = column.name
        if kind == "string":
            enum = table.enums.get(name)
            if spec.values is not None:
                keys = {k.strip().lower(): v for k, v in spec.values.items()}
                low = self.helper(f"lower({r})")
                whens = " ".join(
                    f"WHEN {ql(k)} THEN {('NULL' if v is None else ql(v))}" for k, v in keys.items()
                )
                other = {"keep": r, "null": "NULL", "reject": "NULL"}[spec.unknown]
                expr = f"(CASE {low} {whens} ELSE {other} END)"
                fail = None
                if spec.unknown == "reject" and None not in keys.values():
                    fail = f"({r} IS NOT NULL AND {{v}} IS NULL)"  # unlisted: the CASE gave NULL
                elif spec.unknown == "reject":
                    fail = f"({r} IS NOT NULL AND NOT {_one_of(low, list(keys))})"
                elif spec.unknown == "keep" and enum is not None:
                    fail = f"({{v}} IS NOT NULL AND NOT {_one_of('{v}', enum)})"
                return expr, fail, "unknown_value"
            if enum is not None:
                low = self.helper(f"lower({r})")
                expr = f"(CASE WHEN {_one_of(low, enum)} THEN {low} END)"
                return expr, f"({r} IS NOT NULL AND {{v}} IS NULL)", "unknown_value"
            return r, None, ""
        if kind in ("float", "int"):
            fmt = spec.formats[0] if spec.formats else "seconds"
            if fmt == "hms":
                num = f"epoch(TRY_CAST({r} AS INTERVAL))"
            else:
                scale = {"seconds": "", "minutes": " * 60", "hours": " * 3600"}[fmt]
                num = f"(TRY_CAST({r} AS DOUBLE){scale})"
            expr = (
                f"TRY_CAST(round({num}) AS BIGINT)" if kind == "int" else f"CAST({num} AS DOUBLE)"
            )
            return expr, f"({r} IS NOT NULL AND {{v}} IS NULL)", "bad_number"
        if kind == "timestamp":
            zone = spec.timezone or self.p.timezone
            formats = [f for f in spec.formats if f != "iso"]
            if formats:
                parsed = self.helper(f"try_strptime({r}, [{', '.join(ql(f) for f in formats)}])")
                expr = f"timezone('UTC', {parsed})" if "%z" in formats[0] else _to_utc(parsed, zone)
                if "iso" in spec.formats:
                    expr = f"COALESCE({expr}, {self.iso(r, zone)})"
            else:
                expr = self.iso(r, zone)
            return expr, f"({r} IS NOT NULL AND {{v}} IS NULL)", "bad_timestamp"
        if kind == "bool":
            low = self.helper(f"lower({r})")
            expr = (
                f"(CASE WHEN {_one_of(low, BOOL_TRUE)} THEN TRUE "
                f"WHEN {_one_of(low, BOOL_FALSE)} THEN FALSE END)"
            )
            return expr, f"({r} IS NOT NULL AND {{v}} IS NULL)", "bad_boolean"
        return r, None, ""  # json: kept as text

    def iso(self, r: str, zone: str) -> str:
        """ISO 8601 text: with an offset it is exact; without one it is local time in ``zone``.

        An offset is one that the LIKE patterns ``_OFFSET_LIKE`` find at the end of the text.
        """
        has_offset = self.helper(f"regexp_matches({r}, {ql(_OFFSET_RE)})")
        naive = self.helper(f"TRY_CAST({r} AS TIMESTAMP)")
        return (
            f"(CASE WHEN {has_offset} THEN timezone('UTC', TRY_CAST({r} AS TIMESTAMPTZ)) "
            f"ELSE {_to_utc(naive, zone)} END)"
        )


def _to_utc(ts: str, zone: str) -> str:
    """SQL turning a naive local timestamp in ``zone`` into naive UTC."""
    if zone == "UTC":
        return ts
    exact = f"timezone('UTC', timezone({ql(zone)}, {ts}))"
    fixed = fixed_offset_since(zone)
    if fixed is None:
        return exact
    since, offset = fixed
    shifted = f"({ts} - INTERVAL {offset} SECOND)"
    if since == "1970-01-01":
        return f"(CASE WHEN {ts} >= TIMESTAMP '1970-01-01' THEN {shifted} ELSE {exact} END)"
    return f"(CASE WHEN {ts} >= TIMESTAMP '{since}' THEN {shifted} ELSE {exact} END)"


def _json_object(columns: list[str]) -> str:
    if not columns:
        return "CAST(NULL AS VARCHAR)"
    pairs = ", ".join(f"{ql(c)}, {qi(c)}" for c in columns)
    return f"CAST(json_object({pairs}) AS VARCHAR)"


def compile_profile(
    profile: Profile, source_columns: list[str], *, row_column: bool = True
) -> CompiledQuery:
    """SQL over table ``_raw`` (all VARCHAR, plus ``_row`` if ``row_column``) for this profile.

    Without ``row_column`` the query yields no ``_row`` either: the caller numbers the rows (a
    table created from the query in file order numbers them by its ``rowid``).
    """
    b = _Builder(profile, source_columns)
    table = TABLES[profile.target]
    raw_cols: list[str] = []
    typed_cols: list[str] = []
    codes: list[str] = []  # per field or check: the rejection code, NULL when it passes
    details: list[str] = []  # the same, as text for a person (only evaluated on rejected rows)
    fields: list[str] = []
    constants: dict[str, str] = {}

    def add(tbl: Table, name: str, spec: FieldSpec, alias: str) -> None:
        r_alias = f"r__{alias}"
        raw = b.raw(name, spec)
        raw_cols.append(f"{raw} AS {qi(r_alias)}")
        r = qi(r_alias)
        if not b.reads_row:
            b.inline = True
            constants[alias] = b.typed(tbl, tbl.column(name), spec, f"({raw})")[0]
            b.inline = False
        expr, fail, code = b.typed(tbl, tbl.column(name), spec, r)
        typed_cols.append(f"{expr} AS {qi(alias)}")
        where = f"{name} ({spec.describe_source()})"
        whens: list[tuple[str, str, str]] = []
        if fail is not None:
            fail = fail.replace("{v}", qi(alias))
            verb = "unknown value" if code == "unknown_value" else "cannot read"
            shown = f"{ql(f'{where}: {verb} ' + chr(34))} || left({r}, 80) || {ql(chr(34))}"
            whens.append((fail, f"{code}:{name}", shown))
        if spec.required:
            whens.append(
                (f"{qi(alias)} IS NULL", f"missing_required:{name}", ql(f"{where} is empty"))
            )
        if whens:
            c = qi(f"c__{len(codes)}")
            codes.append(
                "CASE " + " ".join(f"WHEN {w} THEN {ql(code)}" for w, code, _ in whens) + " END"
            )
            shown_by_code = " ".join(f"WHEN {ql(code)} THEN {d}" for _, code, d in whens)
            details.append(f"CASE {c} {shown_by_code} END")

    for name, spec in profile.fields.items():
        add(table, name, spec, name)
        fields.append(name)
    case_fields: list[str] = []
    if profile.cases is not None:
        for name, spec in profile.cases.fields.items():
            add(CASE, name, spec, f"case__{name}")
            case_fields.append(name)

    flags: list[str] = []
    for ck in profile.checks:
        op = "<" if ck.check == "not_before" else ">"
        cond = (
            f"{qi(ck.field)} IS NOT NULL AND {qi(ck.reference)} IS NOT NULL "
            f"AND {qi(ck.field)} {op} {qi(ck.reference)}"
        )
        if ck.action == "flag":
            flags.append(f"CASE WHEN {cond} THEN {ql(ck.reason)} END")
        else:
            word = "before" if ck.check == "not_before" else "after"
            c = qi(f"c__{len(codes)}")
            codes.append(f"CASE WHEN {cond} THEN {ql(ck.reason)} END")
            details.append(
                f"CASE WHEN {c} IS NOT NULL THEN {ql(f'{ck.field} is {word} {ck.reference}: ')} || "
                f"CAST({qi(ck.field)} AS VARCHAR) || ' {op} ' || "
                f"CAST({qi(ck.reference)} AS VARCHAR)"
                " END"
            )

    prefix = profile.cases.attribute_prefix if profile.cases is not None else None
    leftover = [c for c in b.source_order if c not in b.used]
    case_attr_cols = [c for c in leftover if prefix and c.startswith(prefix)]
    if profile.extra == "all":
        attr_cols = [c for c in leftover if c not in case_attr_cols]
    elif profile.extra == "none":
        attr_cols = []
    else:
        attr_cols = [c for c in profile.extra if c in b.source]
    if "attributes" not in profile.fields:
        raw_cols.append(f"{_json_object(attr_cols)} AS {qi('r__attributes')}")
        typed_cols.append(f"{qi('r__attributes')} AS attributes")
        fields.append("attributes")
        if not attr_cols:
            constants["attributes"] = _json_object(attr_cols)
    if profile.cases is not None and "attributes" not in profile.cases.fields:
        raw_cols.append(f"{_json_object(case_attr_cols)} AS {qi('r__case__attributes')}")
        typed_cols.append(f"{qi('r__case__attributes')} AS {qi('case__attributes')}")
        case_fields.append("attributes")
        if not case_attr_cols:
            constants["case__attributes"] = _json_object(case_attr_cols)

    def concat(parts: list[str], sep: str) -> str:
        return f"concat_ws({ql(sep)}, {', '.join(parts)})" if parts else "''"

    # the source row as JSON text, for the quarantine: copied under names of our own (x__<n>)
    # because a source column may be called like any alias used here
    copies = {c: f"x__{i}" for i, c in enumerate(b.source_order)}
    source_json = (
        "CAST(json_object("
        + ", ".join(f"{ql(c)}, {qi(a)}" for c, a in copies.items())
        + ") AS VARCHAR)"
        if copies
        else "'{}'"
    )
    code_cols = [qi(f"c__{i}") for i in range(len(codes))]
    passed = " AND ".join(f"{c} IS NULL" for c in code_cols) or "TRUE"
    row = ["_row"] if row_column else []
    out_cols = row + [
        qi(c) for c in [*fields, *(f"case__{f}" for f in case_fields)] if c not in constants
    ]
    trims = "".join(
        f", {_trim(f'CAST({qi(c)} AS VARCHAR)')} AS {qi(a)}" for c, a in b.trimmed.items()
    )
    kept = ", ".join([*row, *(qi(a) for a in copies.values())])
    kept = f"{kept}, " if kept else ""
    helpers = "".join(f", {expr} AS {qi(a)}" for expr, a in b.pre.items())
    code_sql = "".join(f", {c} AS {qi(f'c__{i}')}" for i, c in enumerate(codes))
    sql = (
        f"WITH s AS (SELECT _raw.*{trims}"
        + "".join(f", {qi(c)} AS {qi(a)}" for c, a in copies.items())
        + " FROM _raw), "
        f"r AS (SELECT {kept}{', '.join(raw_cols)} FROM s), "
        f"p AS (SELECT r.*{helpers} FROM r), "
        f"t AS (SELECT p.*, {', '.join(typed_cols)} FROM p), "
        f"c AS (SELECT t.*{code_sql} FROM t) "
        f"SELECT {', '.join(out_cols)}, "
        f"CASE WHEN {passed} THEN '' ELSE {concat(code_cols, ',')} END AS _codes, "
        f"CASE WHEN {passed} THEN '' ELSE {concat(details, '; ')} END AS _detail, "
        f"{concat(flags, ',')} AS _flags, "
        f"CASE WHEN {passed} THEN NULL ELSE {source_json} END AS _source FROM c"
    )
    return CompiledQuery(
        sql=sql,
        fields=tuple(fields),
        case_fields=tuple(case_fields),
        missing_columns=tuple(b.missing),
        attribute_columns=tuple(attr_cols),
        constants=tuple(constants.items()),
    )
