// Polars peer of the plain-jobs benchmark (bench/peers.sh): workloads W1..W6
// with nodejs-polars, lazy scans. W1..W4 are the shared benchmark's
// (../shared/bench/peers/polars/etl.js); W5 (the design document's Example 4)
// and W6 (W1 from Parquet to Parquet) are this project's.
// usage: node etl.js W1..W6 INDIR OUTDIR   (writes OUTDIR/w1.csv .. w5.csv + w5_totals.csv, w6.parquet)
const fs = require("node:fs");
const path = require("node:path");
const pl = require("nodejs-polars");

const [w, inDir, outDir] = [process.argv[2].toLowerCase(), process.argv[3], process.argv[4]];
const out = (name) => path.join(outDir, name);
const orders = () => pl.scanCSV(path.join(inDir, "orders.csv"));
const users = () => pl.scanCSV(path.join(inDir, "users.csv"));
const w1 = (src) =>
  src
    .filter(pl.col("age").gtEq(18))
    .groupBy("country")
    .agg(
      pl.col("amount").sum().alias("total_amount"),
      pl.len().alias("orders"),
      pl.col("amount").mean().alias("avg_amount"),
    )
    .sort("country");

const workloads = {
  w1: () => w1(orders()).sinkCSV(out("w1.csv")).collectSync(),
  w2: () =>
    orders()
      .join(users(), { on: "user_id", how: "left" })
      .filter(pl.col("amount").gt(1000))
      .sinkCSV(out("w2.csv"))
      .collectSync(),
  w3: () =>
    orders()
      .sort(["order_date", "order_id"], [true, false])
      .unique({ subset: "user_id", keep: "first", maintainOrder: true })
      .sinkCSV(out("w3.csv"))
      .collectSync(),
  w4: () => orders().sinkCSV(out("w4.csv")).collectSync(),
  // One read of the join, two outputs: the joined rows are collected once.
  w5: () => {
    const high = orders()
      .join(users().filter(pl.col("active")), { on: "user_id", how: "left" })
      .filter(pl.col("amount").gt(1000))
      .collectSync();
    high.writeCSV(out("w5.csv"));
    high
      .lazy()
      .groupBy("user_id")
      .agg(pl.col("amount").sum().alias("total_amount"))
      .sort("user_id")
      .collectSync()
      .writeCSV(out("w5_totals.csv"));
  },
  w6: () => w1(pl.scanParquet(path.join(inDir, "orders.parquet"))).sinkParquet(out("w6.parquet"), { compression: "snappy" }).collectSync(),
};

fs.mkdirSync(outDir, { recursive: true });
workloads[w]();
