// Independent check of ParquetOrigin and ParquetDestination with Polars
// (nodejs-polars, the Rust Parquet implementation), driven by
// parquetio/polars_test.go.
//
//   node check.js read FILE    prints {"schema": {col: dtype}, "rows": [{col: text|null}]}
//                              with every value as Polars formats it as text
//   node check.js write FILE COMPRESSION < columns.json
//                              writes the columns given on stdin
//                              ([{name, dtype, values}], dtype one of Int32,
//                              Int64, Float32, Float64, Boolean, Utf8,
//                              Categorical, Date (days), DatetimeUTC (µs),
//                              DatetimeMs (ms, no time zone))
const fs = require("node:fs");
const path = require("node:path");
const pl = require(path.join(__dirname, "node_modules", "nodejs-polars"));

const [cmd, file, compression] = process.argv.slice(2);
if (cmd === "read") {
  const df = pl.readParquet(file);
  const schema = Object.fromEntries(Object.entries(df.schema).map(([k, v]) => [k, String(v)]));
  const rows = df.select(pl.all().cast(pl.Utf8)).toRecords();
  process.stdout.write(JSON.stringify({ schema, rows }));
} else if (cmd === "write") {
  const cols = JSON.parse(fs.readFileSync(0, "utf8"));
  const series = cols.map(({ name, dtype, values }) => {
    switch (dtype) {
      case "Categorical":
        return pl.Series(name, values, pl.Utf8).cast(pl.Categorical);
      case "DatetimeUTC":
        return pl.Series(name, values, pl.Int64).cast(pl.Datetime("us", "UTC"));
      case "DatetimeMs":
        return pl.Series(name, values, pl.Int64).cast(pl.Datetime("ms"));
      case "Date":
        return pl.Series(name, values, pl.Int32).cast(pl.Date);
      default:
        return pl.Series(name, values, pl[dtype]);
    }
  });
  pl.DataFrame(series).writeParquet(file, { compression });
} else {
  process.stderr.write("usage: node check.js read FILE | write FILE COMPRESSION < columns.json\n");
  process.exit(2);
}
