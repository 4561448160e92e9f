// Package beam runs Open-Stage jobs on Apache Beam: the Prism runner in
// this process (--runner prism), and Dataflow, Flink and Spark. It is its
// own Go module, so that the core's build does not bring the Beam SDK's
// modules; its command (cmd/openstage) is the openstage command with these
// runners registered.
//
// # How a job becomes a pipeline
//
// The job is loaded and validated as for the local engine, then every
// stage is checked for a translation; a stage without one is refused at
// validation (never run another way). Every pipe becomes a PCollection of
// Elem: one Arrow record batch, IPC-encoded, with its position in the pipe
// (Pos, compared bytewise), so that destinations can put batches back in
// the order the local engine would give.
//
// Workers rebuild the job from its text (JobSpec) and validate it once per
// DoFn instance, then run each stage on each element with
// openstage.Job.RunStage: the stage's own code, as planned, with the same
// projections, so the rows are those of the local engine.
//
//   - CSVOrigin: its files are cut into byte ranges at record boundaries
//     (csvio's CSVOrigin.Parts), read in parallel; a ParquetOrigin by row
//     group, a Generator by ranges of rows, and a database origin with
//     partition_column by ranges of that column (sqlio.RangeReader,
//     split_sql.go), a GCPBigQueryOrigin by ranges of rows of its query's
//     result (the launcher runs the query once); other origins are read
//     whole by one worker.
//   - RemoveDuplicates: each batch's best row per key goes to its key's
//     bucket, a lifted CombinePerKey keeps one row per key (dedup.go).
//   - Filter, DeleteColumns, Transformer (derive), Switcher and any other
//     Mapper or BatchProcessor: one ParDo, batch by batch; several outputs
//     leave through one PCollection partitioned by pipe.
//   - Copy: its outputs are its input PCollection, consumed several times.
//   - Funnel: Flatten; the position of each batch starts with its input's
//     index, which is sequence order (and a valid continuous order).
//   - Destinations: every batch is written to a part file by the workers
//     (in parallel); once the whole pipeline has succeeded, the launcher
//     runs the destination itself on the parts in order and commits, so a
//     failed or cancelled pipeline leaves no output.
//
// See docs/beam.md for the shuffling stages and what changes on a
// distributed runner.
package beam
