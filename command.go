package openstage

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// RunCommand runs job as the main function of a command does: an interrupt
// (Ctrl-C) or SIGTERM cancels it (a failed or cancelled job leaves no
// partial output), the run summary table goes to standard error, even of a
// failed run, and a failure is printed there after it and ends the program
// with exit status 1.
//
//	func main() {
//		...
//		openstage.RunCommand(openstage.NewJob("my_job", reader))
//	}
func RunCommand(job *Job) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := job.Run(ctx)
	stop()
	if s := job.Summary(); s != nil {
		s.WriteTable(os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
