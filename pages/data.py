"""Data: load a spreadsheet into a dataset (mapping confirmed first), then check its quality."""

import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import streamlit as st

from clm_core import config, store
from clm_core.errors import DataError, UsageError
from clm_core.formatting import fmt_count, fmt_share
from clm_core.ingest import LoadRejected, load_file, prepare, preview, quality
from clm_core.ingest.currency import CURRENCIES
from clm_core.ingest.load import guess_currency, saved_recipe
from clm_core.ingest.mapping import name_list
from clm_core.ingest.read import sniff
from clm_core.privacy import PII_COLUMNS, mask_value
from ui.cache import compute, current_dataset, current_filters
from ui.common import download_buttons, errors_shown, lang, presenter, show_table, t

UPLOADS = Path(tempfile.gettempdir()) / "clm-uploads"
NONE = "—"
MATCH_HELP = {"exact": "Matched by name ({word}).", "contains": "The header contains '{word}'.",
              "similar": "The header is spelt like '{word}'; please check."}  # fmt: skip
CURRENCY_WHY = {"symbol": "{code}: the amounts are written with '{evidence}'.",
                "country": "{code}: most lines are from {evidence}."}  # fmt: skip


def _upload_path(up) -> Path:
    """Save an uploaded file once (streamed) so DuckDB can read it; forget day-old uploads."""
    UPLOADS.mkdir(exist_ok=True)
    for old in UPLOADS.iterdir():
        if time.time() - old.stat().st_mtime > 86400:
            old.unlink(missing_ok=True)
    path = UPLOADS / f"{re.sub(r'[^0-9a-zA-Z-]', '', up.file_id)}{Path(up.name).suffix.lower()}"
    if not path.exists():
        with open(path, "wb") as fh:
            while chunk := up.read(8 << 20):
                fh.write(chunk)
    return path


def _error_text(e: DataError) -> str:
    first = e.result.errors[0] if isinstance(e, LoadRejected) and e.result.errors else {}
    parts = [f"{t('File')}: {e.file}"] if e.file else []
    for label, value in (("Row", e.row), ("Column", e.column), ("Cell value", e.value)):
        if value is not None:
            parts.append(f"{t(label)}: {value}")
    reason = t(first.get("reason", e.reason))
    if isinstance(e, LoadRejected):
        reason = t("{n} of {total} rows cannot be used ({reason}); nothing was loaded.").format(
            n=fmt_count(e.result.rows_rejected, lang()), total=fmt_count(e.result.rows_read, lang()),
            reason=reason)  # fmt: skip
    return " · ".join(parts) + f" — {reason}"


def _duplicates() -> None:
    """Likely duplicate customer pairs with merge suggestions (PII masked in presenter mode)."""
    with st.spinner(t("Comparing customer records...")):
        dups = compute("clm_core.ingest.quality:duplicate_customers", unfiltered=True)
    st.write(t("{n} pairs of customer ids look like the same person (name, email or phone at least 90% similar).")
             .format(n=fmt_count(len(dups), lang())))  # fmt: skip
    if len(dups):
        dups = dups.assign(matched_on=[", ".join(t(f) for f in m.split(", ")) for m in dups["matched_on"]],
                           suggestion=[t("Merge {a} into {b}").format(a=a, b=b)
                                       for a, b in zip(dups["customer_id"], dups["duplicate_of"], strict=True)])  # fmt: skip
        if presenter():  # the other record's name/email/phone are PII too
            for c in PII_COLUMNS:
                dups[f"other_{c}"] = dups[f"other_{c}"].map(lambda v, c=c: mask_value(c, v))
        _show(dups)
        download_buttons(dups, "duplicate-customers", key="data_dups")


def _show(df, **config) -> None:
    """A table with translated column labels (the data keeps its names, so PII masking works)."""
    df = pd.DataFrame(df).copy()
    for col in ("table", "column"):  # our table and column names, shown in the chosen language
        if col in df.columns:
            df[col] = df[col].map(lambda v: t(v) if isinstance(v, str) else v)
    labels = {c: t(str(c)) for c in df.columns} | config
    show_table(df, hide_index=True, column_config=labels)


def _sniffed(path: Path, sheet: str | None = None):
    """sniff() once per file version and sheet (a big workbook takes seconds to open)."""
    st_ = path.stat()
    key = (str(path), st_.st_size, st_.st_mtime_ns, sheet)
    memo = {k: v for k, v in st.session_state.get("data_sniffed", {}).items() if k[:3] == key[:3]}
    if key not in memo:
        memo[key] = sniff(path, sheet=sheet)
    st.session_state["data_sniffed"] = memo
    return memo[key]


def _open_dataset(path: str) -> None:
    st.session_state["dataset_path"] = path


st.title(t("Data"))
st.caption(
    t("Load CSV, Excel or Parquet files into a dataset, then check the quality of the data.")
)

with errors_shown():
    c1, c2 = st.columns(2)
    how = c1.radio(t("Source"), ["upload", "path"], horizontal=True, key="data_source",
                   format_func=lambda v: t({"upload": "Upload a file", "path": "File in the data folder"}[v]))  # fmt: skip
    path = label = None
    if how == "upload":
        up = c1.file_uploader(t("File"), type=["csv", "tsv", "txt", "xlsx", "xlsm", "parquet", "gz"],
                              key="data_upload")  # fmt: skip
        if up is not None:
            path, label = _upload_path(up), up.name
    else:
        typed = c1.text_input(
            t("Path inside the data folder"), key="data_path", placeholder="orders.csv"
        )
        if typed.strip():
            path = store.resolve_in_data_dir(typed.strip())
            label = path.name
    table = c2.selectbox(t("Table"), config.TABLES, key="data_table", format_func=t)
    target_kind = c2.radio(t("Load into"), ["current", "new"], horizontal=True, key="data_target",
                           format_func=lambda v: t({"current": "Current dataset", "new": "New dataset"}[v]))  # fmt: skip
    target = current_dataset().path
    if target_kind == "new":
        name = c2.text_input(t("New dataset name"), key="data_new_name", placeholder="shop-2024")
        if not re.fullmatch(r"[\w\-. ]{1,60}", name.strip() or "", flags=re.UNICODE):
            st.info(t("Name the new dataset (letters, digits, - and _)."))
            st.stop()
        target = store.resolve_in_data_dir(f"{name.strip()}.duckdb")

    if path is not None:
        if not path.is_file():
            raise UsageError(f"File not found: {path.name}")
        sheet = None
        info = _sniffed(path)
        if info.format == "xlsx":
            sheet = st.selectbox(t("Sheet"), info.sheets, key="data_sheet")
            info = _sniffed(path, sheet)
        st.caption(t("{fmt} file, header on row {row}, {n} columns.").format(
            fmt=info.format.upper(), row=info.header_row, n=len(info.columns))
            + (f" {t('Encoding')}: {info.encoding}." if info.encoding else ""))  # fmt: skip
        first = prepare(path, table=table, info=info, recipe=saved_recipe(target, table))
        auto = first.mapping
        token = f"{label}-{info.sheet}-{table}-{path.stat().st_size}"
        st.subheader(t("Column mapping"))
        if first.recipe == "applied":
            st.info(
                t("Same columns as the last {table} file: its confirmed mapping is used.").format(
                    table=t(table)
                )
            )
        elif first.recipe == "changed":
            st.warning(t("The columns differ from the last {table} file (new: {added}; missing: {missing}); check the mapping.")
                       .format(table=t(table), added=name_list(first.changes["added"]) or NONE,
                               missing=name_list(first.changes["missing"]) or NONE))  # fmt: skip
        cols = st.columns(4)
        choices = {}
        for i, canonical in enumerate(config.input_schema(table)):
            need = canonical in config.REQUIRED_COLUMNS[table]
            options = [NONE, *info.columns]
            match = first.matches.get(canonical)
            sure = "" if first.recipe == "applied" or not match or match.source != auto.get(canonical) \
                or match.confidence >= 1 else f" · {match.confidence:.0%}"  # fmt: skip
            choices[canonical] = cols[i % 4].selectbox(
                f"{t(canonical)}{' *' if need else ''}{sure}", options, key=f"data_map_{token}_{canonical}",
                index=options.index(auto[canonical]) if canonical in auto else 0,
                help=t(MATCH_HELP[match.how]).format(word=match.synonym) if match else None)  # fmt: skip
        prep = prepare(path, table=table, info=info,
                       mapping={c: (None if s == NONE else s) for c, s in choices.items()})  # fmt: skip
        if prep.missing:
            st.warning(t("Map the required columns: {cols}.").format(cols=", ".join(prep.missing)))
        for canonical, how in prep.derived.items():
            st.info(
                t("{column} = {how} (the file has no line total).").format(
                    column=t(canonical), how=how
                )
            )
        if not prep.has_amounts:
            st.info(t("The file has no amounts: counts, stages, cohorts and purchase models will work; "
                      "views of money will say that the data has none."))  # fmt: skip
        guess = guess_currency(prep)
        default = (
            first.recipe_currency
            or (guess.code if guess else None)
            or compute("clm_core.store:get_setting", unfiltered=True, key="currency", default="USD")
        )
        codes = list(dict.fromkeys([default, *CURRENCIES]))
        currency = st.selectbox(t("Currency"), codes, key=f"data_currency_{token}",
                                disabled=not prep.has_amounts)  # fmt: skip
        if guess and currency == guess.code:
            st.caption(
                t(CURRENCY_WHY[guess.source]).format(code=guess.code, evidence=guess.evidence)
            )
        st.subheader(t("Preview"))
        _show(preview(prep, lang=lang()))
        o1, o2, o3 = st.columns(3)
        on_error = o1.radio(t("Rows that cannot be used"), ["reject", "skip"], key="data_on_error",
                            format_func=lambda v: t({"reject": "Load nothing", "skip": "Skip them"}[v]))  # fmt: skip
        mode = o2.radio(
            t("Mode"),
            ["replace", "append"],
            key="data_mode",
            format_func=lambda v: t(v.capitalize()),
        )
        drop = o3.checkbox(t("Drop exact duplicate rows"), key="data_drop_dup")
        # A callback, not the button's value: it survives the router's one-off rerun.
        st.button(t("Load"), type="primary", key="data_load", disabled=bool(prep.missing),
                  on_click=lambda: st.session_state.update(data_go=True))  # fmt: skip
        if st.session_state.pop("data_go", False):
            bar = st.progress(0.0, text=t("Reading the file"))
            state = {"f": 0.0, "s": "Reading the file"}
            with ThreadPoolExecutor(1) as pool:
                job = pool.submit(load_file, path, target, table=table, sheet=info.sheet,
                                  mapping=prep.mapping | {c: None for c in config.input_schema(table) if c not in prep.mapping},
                                  on_error=on_error, mode=mode, drop_duplicates=drop, file_label=label,
                                  currency=currency if prep.has_amounts else None,
                                  progress=lambda f, s: state.update(f=f, s=s))  # fmt: skip
                while not job.done():
                    bar.progress(min(state["f"], 1.0), text=t(state["s"]))
                    time.sleep(0.15)
            bar.empty()
            try:
                st.session_state["data_result"] = ("ok", job.result(), str(target))
            except DataError as e:
                st.session_state["data_result"] = ("error", e, str(target))

    outcome = st.session_state.get("data_result")
    if outcome and outcome[0] == "error":
        err = outcome[1]
        st.error(_error_text(err))
        errors = err.result.errors if isinstance(err, LoadRejected) else err.errors
        if errors:
            _show([{**e, "reason": t(e["reason"])} for e in errors])
        st.caption(t("The dataset was not changed."))
    elif outcome:
        res, where = outcome[1], outcome[2]
        st.success(t("Loaded {n} of {total} rows into {table} of {dataset}.").format(
            n=fmt_count(res.rows_loaded, lang()), total=fmt_count(res.rows_read, lang()),
            table=t(res.table), dataset=res.dataset))  # fmt: skip
        figures = [("Rejected rows", res.rows_rejected), ("Guest rows (no customer id)", res.rows_without_customer),
                   ("Duplicate rows", res.duplicates), ("Returns", res.returns), ("Customers", res.customers)]  # fmt: skip
        for col, (name, value) in zip(st.columns(5), figures, strict=True):
            col.metric(t(name), fmt_count(value, lang()))
        facts = [t("{column} = {how}").format(column=t(c), how=h) for c, h in res.derived.items()]
        facts += [t("Currency: {code}").format(code=res.currency)] if res.currency else []
        facts += [t("Dates read {order}").format(order=t(res.date_order))] if res.date_order else []
        if facts:
            st.caption(" · ".join(facts))
        st.caption(t("Dates from {start} to {end}.").format(start=res.date_min, end=res.date_max))
        if res.errors:
            _show([{**e, "reason": t(e["reason"])} for e in res.errors])
        if res.rejected_path and Path(res.rejected_path).exists():
            st.download_button(t("Download rejected rows"), Path(res.rejected_path).read_bytes(),
                               Path(res.rejected_path).name, "text/csv", key="data_rejected")  # fmt: skip
        if where != str(current_dataset().path):
            st.button(t("Open dataset {name}").format(name=res.dataset), key="data_open",
                      on_click=_open_dataset, args=(where,))  # fmt: skip

    st.divider()
    st.header(t("Data quality of {dataset}").format(dataset=current_dataset().name))
    if current_filters().active:  # the report describes the loaded data, not an analysis
        st.caption(t("The quality report covers the whole dataset; the sidebar filters apply to "
                     "the analysis pages."))  # fmt: skip
    if not current_dataset().path.exists():
        st.info(t("This dataset has no data yet: load a file above."))
        st.stop()
    overview = compute("clm_core.ingest.quality:table_overview", unfiltered=True)
    _show(overview)
    if len(overview):
        tx = overview.set_index("table")
        if "transactions" in tx.index:
            r = tx.loc["transactions"]
            st.write(t("{rows} transactions from {start} to {end}; {dups} exact duplicate rows; "
                       "{returns} returns ({share} of rows).").format(
                rows=fmt_count(r["rows"], lang()), start=str(r["date_min"])[:10], end=str(r["date_max"])[:10],
                dups=fmt_count(r["duplicates"], lang()), returns=fmt_count(r["returns"], lang()),
                share=fmt_share(r["returns"] / r["rows"] if r["rows"] else 0, lang())))  # fmt: skip
    comp = compute("clm_core.ingest.quality:completeness", unfiltered=True)
    flagged = comp[comp["flag"]]
    st.subheader(t("Completeness"))
    st.write(t("{n} columns are filled in fewer than 85% of rows.").format(n=len(flagged))
             if len(flagged) else t("Every column is filled in at least 85% of rows."))  # fmt: skip
    _show(comp, completeness=st.column_config.ProgressColumn(
        t("completeness"), min_value=0.0, max_value=1.0, format="percent"))  # fmt: skip
    st.subheader(t("Customers per channel"))
    channels = compute("clm_core.ingest.quality:customers_per_channel", unfiltered=True)
    named = channels[channels["channel"] != "(none)"]
    if len(named):
        top = named.iloc[0]
        st.write(t("Most customers ({n}) come through {channel}.").format(
            n=fmt_count(top["customers"], lang()), channel=top["channel"]))  # fmt: skip
    else:
        st.write(t("No channel is recorded."))
    _show(channels)
    st.subheader(t("Likely duplicate customers"))
    n_customers = (
        int(tx.loc["customers", "rows"]) if len(overview) and "customers" in tx.index else 0
    )
    ran_key = f"data_dups_for_{current_dataset().version}"
    if n_customers <= quality.DUPLICATES_AUTO_MAX or st.session_state.get(ran_key):
        _duplicates()
    else:  # fuzzy matching of a million customer records takes minutes: on request only
        st.write(t("Comparing {n} customer records takes a few minutes.").format(
            n=fmt_count(n_customers, lang())))  # fmt: skip
        if st.button(t("Find likely duplicate customers"), key="data_dups_run"):
            st.session_state[ran_key] = True
            _duplicates()
    history = compute("clm_core.ingest.quality:load_history", unfiltered=True)
    if len(history):
        st.subheader(t("Load history"))
        _show(history)
