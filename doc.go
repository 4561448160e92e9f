// Package openstage is the core of Open-Stage, an ETL framework that brings the
// architecture of IBM DataStage into Go code: Origins (0 inputs), Nodes
// (N inputs, M outputs) and Destinations (0 outputs) joined by named Pipes that
// carry DataPackages — a pipe name plus one columnar Apache Arrow record batch.
//
// A job is built with the builder API
//
//	reader.AddOutputPipe(openstage.NewPipe("orders")).SetDestination(filter).
//		AddOutputPipe(openstage.NewPipe("filtered")).SetDestination(writer)
//	err := openstage.NewJob("high_value", reader, filter, writer).Run(ctx)
//
// or loaded from a YAML job file (package jobfile) and run by the openstage
// command.
//
// # Components
//
// A component implements one of three small interfaces, Origin, Node or
// Destination. Each has a Plan method, called once before any data moves, that
// checks the component's parameters against the schemas of its input pipes and
// declares the schema of its output pipes; and a method that moves the data
// (Pump, Process or Sink). The engine owns goroutines, buffering, cancellation
// and metrics; component code is sequential.
//
// # Ownership of batches
//
// Batches follow arrow-go's reference counting. A batch returned by
// Inputs.Recv belongs to the caller, who must Release it. Outputs.Send does not
// take the caller's reference: it retains the batch once for every receiving
// pipe, so the caller releases its own reference as usual.
//
// # Engine
//
// Every stage runs in its own goroutine. Pipes are bounded queues, so a fast
// producer waits for a slow consumer (backpressure) and a streaming job holds a
// few batches in memory whatever its input size. The first error cancels the
// whole job and is returned wrapped with the stage's type and name. Destinations
// that implement Committer publish their output only after every stage has
// finished without error.
package openstage
