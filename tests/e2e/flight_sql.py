"""Talks to Osprey's Flight SQL endpoint with the ADBC Flight SQL driver, as a
BI tool or a notebook would, and prints what it saw as JSON on stdout.

Usage: flight_sql.py grpc://HOST:PORT '["SELECT ...", ...]'
Run by tests/e2e/flight_sql.rs in a venv it prepares.
"""

import json
import sys

import adbc_driver_flightsql.dbapi as flight_sql


def rows(table):
    return [list(row.values()) for row in table.to_pylist()]


def main():
    uri, queries = sys.argv[1], json.loads(sys.argv[2])
    out = {"queries": []}
    # Osprey's SQL is read-only and has no transactions: autocommit.
    with flight_sql.connect(uri, autocommit=True) as conn:
        info = conn.adbc_get_info()
        out["vendor_name"] = info.get("vendor_name")
        with conn.cursor() as cur:
            for query in queries:
                cur.execute(query)
                table = cur.fetch_arrow_table()
                out["queries"].append({"columns": table.schema.names, "rows": rows(table)})

            # Every column type of the table (timestamps, maps, lists of structs) reaches the client.
            cur.execute("SELECT * FROM spans ORDER BY trace_id, span_id LIMIT 3")
            table = cur.fetch_arrow_table()
            out["all_columns"] = {
                "rows": table.num_rows,
                "types": {f.name: str(f.type) for f in table.schema},
                "first": {k: v for k, v in table.slice(0, 1).to_pylist()[0].items() if k in ("start_time", "attributes")},
            }

            try:
                cur.execute("DROP TABLE spans")
                cur.fetch_arrow_table()
                out["ddl_error"] = None
            except Exception as e:  # the driver's error class for InvalidArgument
                out["ddl_error"] = {"class": type(e).__name__, "message": str(e)}

        objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        out["tables"] = [
            {
                "catalog": catalog["catalog_name"],
                "schema": schema["db_schema_name"],
                "table": table["table_name"],
                "type": table["table_type"],
                "columns": [c["column_name"] for c in table["table_columns"] or []],
            }
            for catalog in objects
            for schema in catalog["catalog_db_schemas"] or []
            for table in schema["db_schema_tables"] or []
        ]
        schema = conn.adbc_get_table_schema("spans", db_schema_filter="public")
        out["spans_schema"] = [[f.name, str(f.type)] for f in schema]
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
