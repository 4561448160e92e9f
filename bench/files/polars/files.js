// Polars peer of the file-format benchmark (bench/files.sh): W1 (orders,
// age >= 18, by country: sum, count, mean of amount) read from a gzip CSV
// (readCSV on the bytes: scanCSV does not read compressed files) or from NDJSON
// (scanJson, lazy).
// usage: node files.js csvgz|ndjson INFILE OUTFILE
const fs = require("fs");
const pl = require("nodejs-polars");
const [kind, inFile, outFile] = process.argv.slice(2);
// readCSV takes a string without a .csv ending for CSV text: give it the
// file's bytes, which it decompresses.
const src = kind === "csvgz" ? pl.readCSV(fs.readFileSync(inFile)).lazy() : pl.scanJson(inFile);
src
  .filter(pl.col("age").gtEq(18))
  .groupBy("country")
  .agg(pl.col("amount").sum().alias("total_amount"), pl.len().alias("orders"), pl.col("amount").mean().alias("avg_amount"))
  .sort("country")
  .collectSync()
  .writeCSV(outFile);
